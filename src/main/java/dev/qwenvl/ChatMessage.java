package dev.qwenvl;

import java.util.Objects;

/**
 * One message of a conversation's history as the chat template sees it: a role and the text, with one
 * {@link #MEDIA_MARKER} where each image of the message stood.
 *
 * @param role    {@code system}, {@code user} or {@code assistant}
 * @param content the text
 */
public record ChatMessage(String role, String content) {
    /** The text that stands for an image in a message (libmtmd's default media marker). */
    public static final String MEDIA_MARKER = "<__media__>";

    public ChatMessage {
        Objects.requireNonNull(role, "role");
        Objects.requireNonNull(content, "content");
    }
}
