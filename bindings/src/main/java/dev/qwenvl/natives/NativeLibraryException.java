package dev.qwenvl.natives;

/** The native libraries could not be found or loaded; the message names the platform, the paths tried and the fix. */
public final class NativeLibraryException extends RuntimeException {
    public NativeLibraryException(String message) {
        super(message);
    }

    public NativeLibraryException(String message, Throwable cause) {
        super(message, cause);
    }
}
