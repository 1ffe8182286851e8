package dev.qwenvl;

/**
 * The base of every exception the facade throws for bad input, bad files or a native failure. Each subclass names
 * the thing at fault and the problem; the message says what to do where there is something to do.
 */
public class QwenVlException extends RuntimeException {
    public QwenVlException(String message) {
        super(message);
    }

    public QwenVlException(String message, Throwable cause) {
        super(message, cause);
    }
}
