package dev.qwenvl.cli.hub;

/**
 * Why a model could not be resolved from the Hugging Face Hub or its cache. The message is meant for the user as is;
 * {@link #reason()} lets the CLI choose an exit code.
 */
public class HubException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    /** What went wrong, coarse enough to map to exit codes. */
    public enum Reason {
        /** The {@code --hf} argument is malformed. */
        INVALID_REFERENCE,
        /** The Hub could not be reached (refused, unresolvable, timed out). */
        NETWORK,
        /** The Hub answered with an error status or a response this client does not understand. */
        HTTP,
        /** The repository exists but holds no file matching the selection rule. */
        NO_MATCHING_FILE,
        /** Offline mode and the cache lacks the repository, its {@code refs/main} or the selected files. */
        NOT_CACHED,
        /** A downloaded file does not hash to the value the Hub published for it; nothing was kept. */
        CHECKSUM_MISMATCH,
        /** Reading or writing the local cache failed. */
        CACHE_IO
    }

    private final Reason reason;

    /** An error with its reason and the user-facing message. */
    public HubException(Reason reason, String message) {
        this(reason, message, null);
    }

    /** An error with its reason, the user-facing message and the underlying cause. */
    public HubException(Reason reason, String message, Throwable cause) {
        super(message, cause);
        this.reason = reason;
    }

    /** What went wrong. */
    public Reason reason() {
        return reason;
    }
}
