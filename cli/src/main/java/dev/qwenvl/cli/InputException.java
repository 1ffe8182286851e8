package dev.qwenvl.cli;

/** An input the command line names (an image URL, stdin, a file to save to) cannot be read or written. */
final class InputException extends RuntimeException {
    InputException(String message) {
        super(message);
    }

    InputException(String message, Throwable cause) {
        super(message, cause);
    }
}
