package dev.qwenvl.cli.hub;

/**
 * Receives the progress of each file download, so the caller decides how (and whether) to show it.
 * Called on the downloading thread; {@code totalBytes} is -1 when unknown.
 */
public interface DownloadProgress {

    /** Ignores every event. */
    DownloadProgress NONE = new DownloadProgress() {
    };

    /** A download of {@code file} begins, with {@code doneBytes} already on disk from an earlier, interrupted try. */
    default void started(String file, long doneBytes, long totalBytes) {
    }

    /** More of {@code file} has arrived. */
    default void advanced(String file, long doneBytes, long totalBytes) {
    }

    /** {@code file} is complete and verified. */
    default void finished(String file, long totalBytes) {
    }
}
