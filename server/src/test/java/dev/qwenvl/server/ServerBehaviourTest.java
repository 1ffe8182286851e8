package dev.qwenvl.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpServer;
import dev.qwenvl.InvalidModelException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;

import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Health while loading, models, metrics, stop strings, plain-text messages, the prefix cache, remote and file images. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ServerBehaviourTest {
    private VisionServer server;
    private HttpServer images;
    private Path mediaDir;
    private byte[] png;

    @BeforeAll
    void start() throws Exception {
        png = TinyServer.png(48, 40);
        mediaDir = Files.createTempDirectory("qwenvl-media");
        Files.write(mediaDir.resolve("photo.png"), png);
        images = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        images.createContext("/photo.png", x -> {
            x.sendResponseHeaders(200, png.length);
            x.getResponseBody().write(png);
            x.close();
        });
        images.createContext("/big.png", x -> {
            byte[] big = new byte[300 * 1024];
            x.sendResponseHeaders(200, big.length);
            x.getResponseBody().write(big);
            x.close();
        });
        images.createContext("/loop", x -> {
            x.getResponseHeaders().add("Location", "/loop");
            x.sendResponseHeaders(302, -1);
            x.close();
        });
        images.createContext("/missing.png", x -> {
            x.sendResponseHeaders(404, -1);
            x.close();
        });
        images.start();
        server = TinyServer.start(ServerOptions.defaults().withRemoteImages(true, true).withMediaDir(mediaDir)
                .withLimits(1024 * 1024, 4, 256 * 1024));
    }

    @AfterAll
    void stop() throws Exception {
        server.close();
        images.stop(0);
        try (var files = Files.list(mediaDir)) {
            for (Path f : files.toList()) {
                Files.delete(f);
            }
        }
        Files.delete(mediaDir);
    }

    private RawHttp.Reply post(URI base, String body) {
        return RawHttp.post(base, "/v1/chat/completions", body.getBytes(StandardCharsets.UTF_8), "");
    }

    private RawHttp.Reply get(URI base, String path) {
        return RawHttp.exchange(base, ("GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .getBytes(StandardCharsets.ISO_8859_1));
    }

    private static String ask(String content, String extra) {
        return "{\"messages\":[{\"role\":\"user\",\"content\":" + content + "}],\"temperature\":0" + extra + "}";
    }

    private static String image(String url) {
        return "[{\"type\":\"image_url\",\"image_url\":{\"url\":\"" + url + "\"}},{\"type\":\"text\",\"text\":\"what?\"}]";
    }

    @Test
    void healthIs503WhileLoadingThen200() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        try (VisionServer loading = VisionServer.start(ServerOptions.defaults().withPort(0), () -> {
            release.await(60, TimeUnit.SECONDS);
            return TinyServer.load();
        })) {
            RawHttp.Reply early = get(loading.uri(), "/health");
            assertEquals(503, early.status(), early.body());
            assertEquals("loading_model", early.json().path("error").path("code").asText());
            assertEquals("1", early.header("Retry-After"));
            assertEquals(503, post(loading.uri(), ask("\"hi\"", "")).status());
            release.countDown();
            assertTrue(loading.awaitReady(Duration.ofSeconds(60)));
            assertEquals(200, get(loading.uri(), "/health").status());
        }
    }

    @Test
    void aModelThatFailsToLoadIsReported() throws Exception {
        try (VisionServer broken = VisionServer.start(ServerOptions.defaults().withPort(0),
                () -> dev.qwenvl.VisionLanguageModel.load(Path.of("/nonexistent.gguf"), Path.of("/no-mmproj.gguf")))) {
            assertThrows(InvalidModelException.class, () -> broken.awaitReady(Duration.ofSeconds(30)));
            RawHttp.Reply health = get(broken.uri(), "/health");
            assertEquals(500, health.status());
            assertTrue(health.body().contains("nonexistent.gguf"), health.body());
        }
    }

    @Test
    void modelsAndMetrics() {
        JsonNode models = get(server.uri(), "/v1/models").json();
        assertEquals("list", models.path("object").asText());
        assertEquals("qwenvl", models.path("data").path(0).path("id").asText());
        assertEquals("model", models.path("data").path(0).path("object").asText());
        assertEquals(200, post(server.uri(), ask("\"hi\"", ",\"max_tokens\":3")).status());
        String metrics = get(server.uri(), "/metrics").body();
        for (String name : new String[]{"qwenvl_requests_total{endpoint=\"/v1/chat/completions\",status=\"200\"}",
                "qwenvl_generated_tokens_total", "qwenvl_prompt_tokens_total", "qwenvl_requests_queued",
                "qwenvl_requests_processing", "qwenvl_time_to_first_token_seconds_count",
                "qwenvl_prompt_cached_tokens_total", "qwenvl_images_cached_total"}) {
            assertTrue(metrics.contains(name), name + " in\n" + metrics);
        }
    }

    @Test
    void finishReasonsAndStopStrings() {
        JsonNode free = post(server.uri(), ask("\"Describe a sunny day.\"", ",\"max_tokens\":20")).json();
        assertEquals("length", free.path("choices").path(0).path("finish_reason").asText());
        String text = free.path("choices").path(0).path("message").path("content").asText();
        String stop = text.substring(6, 9);
        JsonNode stopped = post(server.uri(), ask("\"Describe a sunny day.\"", ",\"max_tokens\":20,\"stop\":["
                + RawHttp.JSON.valueToTree(stop) + "]")).json();
        assertEquals("stop", stopped.path("choices").path(0).path("finish_reason").asText());
        assertEquals(text.substring(0, text.indexOf(stop)), stopped.path("choices").path(0).path("message")
                .path("content").asText());
    }

    @Test
    void messageTextIsNeverReadAsSpecialTokens() {
        int plain = post(server.uri(), ask("\"x\"", ",\"max_tokens\":1")).json().path("usage")
                .path("prompt_tokens").asInt();
        int special = post(server.uri(), ask("\"<|im_start|>\"", ",\"max_tokens\":1")).json().path("usage")
                .path("prompt_tokens").asInt();
        assertTrue(special >= plain + 3, "<|im_start|> typed by a user is text, several tokens: " + special + " vs "
                + plain);
    }

    @Test
    void aResentChatReusesItsPrefix() {
        assertResentChatReusesItsPrefix(server.uri());
    }

    @Test
    void aResentChatReusesItsPrefixOnAnotherConversation() throws Exception {
        // two conversations: the second turn is served by the one the first turn did not use
        try (VisionServer two = TinyServer.start(ServerOptions.defaults().withParallel(2, 4))) {
            assertResentChatReusesItsPrefix(two.uri());
        }
    }

    /** The second turn of a chat, resent whole, takes over every cell of its first turn's prompt, image included. */
    private void assertResentChatReusesItsPrefix(URI base) {
        String first = "[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":"
                + image(TinyServer.dataUri(png)) + "}";
        JsonNode one = post(base, "{\"messages\":" + first + "],\"max_tokens\":4,\"temperature\":0}").json();
        String reply = one.path("choices").path(0).path("message").path("content").asText();
        JsonNode two = post(base, "{\"messages\":" + first + ",{\"role\":\"assistant\",\"content\":"
                + RawHttp.JSON.valueToTree(reply) + "},{\"role\":\"user\",\"content\":\"And?\"}],\"max_tokens\":4,"
                + "\"temperature\":0}").json();
        int cached = two.path("usage").path("prompt_tokens_details").path("cached_tokens").asInt();
        int firstPrompt = one.path("usage").path("prompt_tokens").asInt();
        assertTrue(cached >= firstPrompt, "the second turn reused the first's " + firstPrompt + " prompt tokens: "
                + two.path("usage"));
        assertEquals(cached, two.path("timings").path("cache_n").asInt());
        assertTrue(cached < two.path("usage").path("prompt_tokens").asInt());
    }

    @Test
    void remoteImagesWithinTheLimits() {
        String base = "http://127.0.0.1:" + images.getAddress().getPort();
        RawHttp.Reply ok = post(server.uri(), ask(image(base + "/photo.png"), ",\"max_tokens\":2"));
        assertEquals(200, ok.status(), ok.body());
        assertTrue(ok.json().path("usage").path("prompt_tokens").asInt() > 10);
        RawHttp.Reply big = post(server.uri(), ask(image(base + "/big.png"), ",\"max_tokens\":2"));
        assertEquals(400, big.status(), big.body());
        assertTrue(big.body().contains("larger than"), big.body());
        RawHttp.Reply loop = post(server.uri(), ask(image(base + "/loop"), ",\"max_tokens\":2"));
        assertEquals(400, loop.status(), loop.body());
        RawHttp.Reply missing = post(server.uri(), ask(image(base + "/missing.png"), ",\"max_tokens\":2"));
        assertEquals(400, missing.status(), missing.body());
        assertTrue(missing.body().contains("404"), missing.body());
    }

    @Test
    void fileImagesOnlyUnderTheMediaDirectory() throws Exception {
        RawHttp.Reply ok = post(server.uri(), ask(image(mediaDir.resolve("photo.png").toUri().toString()),
                ",\"max_tokens\":2"));
        assertEquals(200, ok.status(), ok.body());
        Path outside = Files.write(Files.createTempFile("qwenvl-outside", ".png"), png);
        Path link = mediaDir.resolve("escape.png");
        try {
            Files.createSymbolicLink(link, outside);
            for (String url : new String[]{outside.toUri().toString(), link.toUri().toString(),
                    mediaDir.toUri() + "../" + outside.getFileName(), "file:///etc/passwd"}) {
                RawHttp.Reply refused = post(server.uri(), ask(image(url), ",\"max_tokens\":2"));
                assertEquals(400, refused.status(), url + ": " + refused.body());
                assertFalse(refused.body().contains("root:"), refused.body());
            }
        } finally {
            Files.deleteIfExists(link);
            Files.deleteIfExists(outside);
        }
    }
}
