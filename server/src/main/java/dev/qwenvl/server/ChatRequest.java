package dev.qwenvl.server;

import dev.qwenvl.Role;
import dev.qwenvl.SamplingOptions;

import java.util.List;

/**
 * A checked {@code POST /v1/chat/completions} body: the messages, how to sample, and how to answer.
 *
 * @param turns        the messages in order; the last one is the user's question
 * @param sampling     sampling and stopping, from the request's fields
 * @param stream       answer as Server-Sent Events
 * @param includeUsage with {@code stream}, send a last chunk carrying {@code usage}
 */
record ChatRequest(List<Turn> turns, SamplingOptions sampling, boolean stream, boolean includeUsage) {

    /**
     * One message: its role, its text parts and image parts in order.
     *
     * @param role  who speaks
     * @param parts text and images in the order the client sent them
     */
    record Turn(Role role, List<Part> parts) {
        long imageCount() {
            return parts.stream().filter(p -> p instanceof Part.ImageUrl).count();
        }
    }

    /** A content part. */
    sealed interface Part {
        /** Text, as sent. */
        record Text(String text) implements Part {
        }

        /** An image by URL ({@code data:}, {@code http(s):} or {@code file:}); {@code param} locates it. */
        record ImageUrl(String url, String param) implements Part {
        }
    }
}
