package dev.qwenvl;

/**
 * Thrown when an image cannot be read, decoded or accepted: empty, truncated or corrupt data, an unsupported format,
 * dimensions over the configured limits, or input larger than the configured byte limit.
 *
 * <p>The message starts with the source of the image (a path, {@code "byte[] of N bytes"}, {@code "input stream"} or
 * {@code "data URI ..."}), then names the problem and, where there is one, the remedy.
 *
 * @see ImageDecoder
 */
public class ImageException extends QwenVlException {
    /**
     * Creates an exception with the given message.
     *
     * @param message the source of the image, the problem and the remedy
     */
    public ImageException(String message) {
        super(message);
    }

    /**
     * Creates an exception with the given message and cause.
     *
     * @param message the source of the image, the problem and the remedy
     * @param cause   the decoder's or the file system's exception
     */
    public ImageException(String message, Throwable cause) {
        super(message, cause);
    }
}
