package dev.qwenvl;

/**
 * The llama.cpp libraries cannot be found or loaded on this machine. The message names the platform, the places
 * tried and how to build or point at the libraries ({@code -Dqwenvl.library.path}, {@code QWENVL_LIBRARY_PATH}).
 */
public final class NativeLibraryException extends QwenVlException {
    public NativeLibraryException(String message, Throwable cause) {
        super(message, cause);
    }
}
