package dev.qwenvl.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/** One small client used on both servers, so answers and SSE framing are read by the same code. */
final class SseClient {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration TIMEOUT = Duration.ofSeconds(120);
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    private static final int MAX_EVENTS = 100_000;

    /**
     * A streamed answer.
     *
     * @param events each {@code data:} payload before {@code [DONE]}, parsed
     * @param done   whether the stream ended with {@code data: [DONE]}
     * @param firstPieceNanos {@link System#nanoTime()} when the first content piece arrived, or -1
     */
    record Stream(List<JsonNode> events, boolean done, long firstPieceNanos) {
        String content() {
            StringBuilder s = new StringBuilder();
            for (JsonNode e : events) {
                JsonNode delta = e.path("choices").path(0).path("delta").path("content");
                if (delta.isTextual()) {
                    s.append(delta.asText());
                }
            }
            return s.toString();
        }

        String finishReason() {
            String reason = null;
            for (JsonNode e : events) {
                JsonNode f = e.path("choices").path(0).path("finish_reason");
                if (f.isTextual()) {
                    reason = f.asText();
                }
            }
            return reason;
        }

        JsonNode usage() {
            return events.getLast().path("usage");
        }
    }

    private SseClient() {
    }

    static JsonNode post(URI base, String body) throws IOException, InterruptedException {
        HttpResponse<String> r = HTTP.send(request(base, body, TIMEOUT), HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() != 200) {
            throw new AssertionError("HTTP " + r.statusCode() + " from " + base + ": " + r.body());
        }
        return JSON.readTree(r.body());
    }

    static Stream stream(URI base, String body) throws IOException, InterruptedException {
        return stream(base, body, TIMEOUT);
    }

    /** As {@link #stream(URI, String)}, waiting up to {@code timeout} for the answer to begin. */
    static Stream stream(URI base, String body, Duration timeout) throws IOException, InterruptedException {
        return stream(HTTP, base, body, timeout);
    }

    /** As {@link #stream(URI, String, Duration)}, on the connections of {@code http}. */
    static Stream stream(HttpClient http, URI base, String body, Duration timeout)
            throws IOException, InterruptedException {
        HttpResponse<InputStream> r = http.send(request(base, body, timeout),
                HttpResponse.BodyHandlers.ofInputStream());
        if (r.statusCode() != 200) {
            throw new AssertionError("HTTP " + r.statusCode() + " from " + base);
        }
        List<JsonNode> events = new ArrayList<>();
        boolean done = false;
        long firstPiece = -1;
        try (BufferedReader lines = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
            String pending = null;
            for (String line; events.size() < MAX_EVENTS && (line = lines.readLine()) != null; ) {
                if (line.startsWith("data: ")) {
                    pending = line.substring(6);
                } else if (line.isEmpty() && pending != null) { // a blank line ends the event
                    if (pending.equals("[DONE]")) {
                        done = true;
                    } else {
                        JsonNode event = JSON.readTree(pending);
                        if (firstPiece < 0 && event.path("choices").path(0).path("delta").path("content").isTextual()) {
                            firstPiece = System.nanoTime();
                        }
                        events.add(event);
                    }
                    pending = null;
                } else if (!line.isEmpty() && !line.startsWith(":")) {
                    throw new AssertionError("not SSE framing from " + base + ": " + line);
                }
            }
        }
        return new Stream(events, done, firstPiece);
    }

    private static HttpRequest request(URI base, String body, Duration timeout) {
        return HttpRequest.newBuilder(base.resolve("/v1/chat/completions")).timeout(timeout)
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build();
    }
}
