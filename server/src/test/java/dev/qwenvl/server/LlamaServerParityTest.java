package dev.qwenvl.server;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;

import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The same requests to llama-server (same pinned tree, same libraries, same tiny pair) and to the server: greedy
 * content identical to the byte, same finish_reason, same token counts, streamed or not.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class LlamaServerParityTest {
    private LlamaServer reference;
    private VisionServer server;
    private String image;

    @BeforeAll
    void start() throws Exception {
        reference = LlamaServer.start(TinyServer.pair());
        server = TinyServer.start(ServerOptions.defaults());
        image = TinyServer.dataUri(TinyServer.png(160, 120));
    }

    @AfterAll
    void stop() throws Exception {
        server.close();
        reference.close();
    }

    private static String body(String messages, String extra) {
        return "{\"messages\":" + messages + ",\"temperature\":0" + extra + "}";
    }

    private String withImage(String text) {
        return "[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"" + image
                + "\"}},{\"type\":\"text\",\"text\":\"" + text + "\"}]}]";
    }

    private void assertSameAnswer(String body) throws Exception {
        assertSameAnswer(body, true);
    }

    /** Same token counts and finish_reason; with {@code content}, the same text to the byte. */
    private void assertSameAnswer(String body, boolean content) throws Exception {
        JsonNode expected = SseClient.post(reference.uri(), body);
        JsonNode actual = SseClient.post(server.uri(), body);
        JsonNode e = expected.path("choices").path(0);
        JsonNode a = actual.path("choices").path(0);
        assertEquals(expected.path("usage").path("prompt_tokens").asInt(), actual.path("usage").path("prompt_tokens")
                .asInt(), "prompt_tokens");
        assertEquals(expected.path("usage").path("completion_tokens").asInt(), actual.path("usage")
                .path("completion_tokens").asInt(), "completion_tokens");
        assertEquals(e.path("finish_reason").asText(), a.path("finish_reason").asText(), "finish_reason");
        if (content) {
            assertEquals(e.path("message").path("content").asText(), a.path("message").path("content").asText(),
                    "content for " + abbreviated(body));
        }
        assertEquals("chat.completion", actual.path("object").asText());
    }

    private static String abbreviated(String s) {
        return s.length() < 300 ? s : s.substring(0, 300) + "...";
    }

    // Inputs are chosen so that llama-server can answer: its content parser refuses an answer that starts with an
    // incomplete UTF-8 sequence, which random weights sometimes produce (a 500 "does not match the expected format").

    @Test
    void textAnswer() throws Exception {
        assertSameAnswer(body("[{\"role\":\"user\",\"content\":\"Describe a sunny day.\"}]", ",\"max_tokens\":40"));
    }

    @Test
    void imageAnswer() throws Exception {
        assertSameAnswer(body(withImage("What is in this picture?"), ",\"max_tokens\":40"));
    }

    @Test
    void imageAfterTextAndTwoTextParts() throws Exception {
        String messages = "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Look:\"},"
                + "{\"type\":\"image_url\",\"image_url\":{\"url\":\"" + image + "\"}},{\"type\":\"text\","
                + "\"text\":\"Describe it.\"},{\"type\":\"text\",\"text\":\"Briefly.\"}]}]";
        assertSameAnswer(body(messages, ",\"max_tokens\":24"));
    }

    @Test
    void multiTurnWithSystemAndImage() throws Exception {
        String messages = "[{\"role\":\"system\",\"content\":\"You answer in one line.\"},"
                + withImage("What is it?").substring(1, withImage("What is it?").length() - 1) + ","
                + "{\"role\":\"assistant\",\"content\":\"A gradient of colours.\"},"
                + "{\"role\":\"user\",\"content\":\"Tell me more.\"}]";
        assertSameAnswer(body(messages, ",\"max_tokens\":32"));
    }

    @Test
    void multiTurnText() throws Exception {
        String messages = "[{\"role\":\"system\",\"content\":\"You answer in one line.\"},{\"role\":\"user\","
                + "\"content\":\"Name a colour.\"},{\"role\":\"assistant\",\"content\":\"Blue.\"},"
                + "{\"role\":\"user\",\"content\":\"Another one?\"}]";
        assertSameAnswer(body(messages, ",\"max_tokens\":24"));
    }

    @Test
    void stopStringEndsBothAtTheSamePlace() throws Exception {
        String messages = "[{\"role\":\"user\",\"content\":\"Describe a sunny day.\"}]";
        String free = SseClient.post(reference.uri(), body(messages, ",\"max_tokens\":40")).path("choices").path(0)
                .path("message").path("content").asText();
        assertTrue(free.length() > 12, "the reference answered: " + free);
        String stop = free.substring(8, 11);
        assertSameAnswer(body(messages, ",\"max_tokens\":40,\"stop\":" + RawHttp.JSON.writeValueAsString(stop)));
    }

    @Test
    void streamedAnswerWithUsage() throws Exception {
        String body = body(withImage("What is in this picture?"),
                ",\"max_tokens\":40,\"stream\":true,\"stream_options\":{\"include_usage\":true}");
        SseClient.Stream expected = SseClient.stream(reference.uri(), body);
        SseClient.Stream actual = SseClient.stream(server.uri(), body);
        assertTrue(expected.done() && actual.done(), "both streams end with data: [DONE]");
        assertEquals(expected.content(), actual.content());
        assertEquals(expected.finishReason(), actual.finishReason());
        assertEquals(expected.usage().path("prompt_tokens").asInt(), actual.usage().path("prompt_tokens").asInt());
        assertEquals(expected.usage().path("completion_tokens").asInt(),
                actual.usage().path("completion_tokens").asInt());
        assertTrue(actual.events().getLast().path("choices").isEmpty(), "the usage chunk has no choices");
        assertEquals("assistant", actual.events().getFirst().path("choices").path(0).path("delta").path("role")
                .asText());
    }
}
