package dev.qwenvl.server;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Requests no well-behaved client sends: each gets a JSON error with the right status, or a clean close, and the
 * server answers a normal request after each; at the end no threads, file descriptors or heap have piled up.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class HostileHttpTest {
    private static final int MAX_BODY = 1024 * 1024;
    private static final int MAX_IMAGE = 256 * 1024;
    private static final String AUTH = "Authorization: Bearer " + TinyServer.KEY + "\r\n";
    private VisionServer server;
    private URI base;
    private String png;
    private int threadsBefore;
    private long fdsBefore;
    private long heapBefore;

    @BeforeAll
    void start() throws Exception {
        server = TinyServer.start(ServerOptions.defaults().withApiKey(TinyServer.KEY).withParallel(1, 1)
                .withLimits(MAX_BODY, 3, MAX_IMAGE).withRemoteImages(true, false)
                .withRemoteLimits(Duration.ofSeconds(2), 1).withIdleTimeout(Duration.ofSeconds(1)));
        base = server.uri();
        png = TinyServer.dataUri(TinyServer.png(32, 32));
        assertAnswers(); // warm every path once before counting threads and descriptors
        threadsBefore = ManagementFactory.getThreadMXBean().getThreadCount();
        fdsBefore = openFds();
        heapBefore = heapAfterGc();
    }

    private static long heapAfterGc() {
        System.gc();
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }

    @AfterAll
    void stop() throws Exception {
        server.close();
    }

    private static long openFds() throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.count();
        }
    }

    private static String ask(String content) {
        return "{\"messages\":[{\"role\":\"user\",\"content\":" + content + "}],\"max_tokens\":2}";
    }

    private String imageMessage(String url) {
        return "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\""
                + url + "\"}},{\"type\":\"text\",\"text\":\"what?\"}]}],\"max_tokens\":2}";
    }

    /** A normal request still gets a normal answer. */
    private void assertAnswers() {
        RawHttp.Reply r = RawHttp.post(base, "/v1/chat/completions", ask("\"hi\"").getBytes(StandardCharsets.UTF_8),
                AUTH);
        assertEquals(200, r.status(), r.body());
        assertEquals("assistant", r.json().path("choices").path(0).path("message").path("role").asText());
    }

    private static void assertError(RawHttp.Reply r, int status, String mentions) {
        assertEquals(status, r.status(), r.head() + "\n" + r.body());
        JsonNode error = r.json().path("error");
        assertTrue(error.path("message").isTextual(), r.body());
        assertTrue(error.path("type").isTextual(), r.body());
        assertTrue(error.has("code"), r.body());
        if (mentions != null) {
            assertTrue(r.body().contains(mentions), "expected the error to mention " + mentions + ": " + r.body());
        }
    }

    /** A PNG header declaring {@code side} x {@code side} pixels followed by no real image data. */
    private static String pngBomb(int side) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.writeBytes(new byte[]{(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'});
        b.writeBytes(new byte[]{(byte) (side >>> 24), (byte) (side >>> 16), (byte) (side >>> 8), (byte) side});
        b.writeBytes(new byte[]{(byte) (side >>> 24), (byte) (side >>> 16), (byte) (side >>> 8), (byte) side});
        b.writeBytes(new byte[]{8, 2, 0, 0, 0, 0, 0, 0, 0});
        return "data:image/png;base64," + Base64.getEncoder().encodeToString(b.toByteArray());
    }

    Stream<Arguments> badBodies() {
        String oversizedImage = "data:image/png;base64," + "A".repeat(MAX_IMAGE / 3 * 4 + 400);
        String fourImages = "{\"messages\":[{\"role\":\"user\",\"content\":["
                + ("{\"type\":\"image_url\",\"image_url\":{\"url\":\"" + png + "\"}},").repeat(4)
                + "{\"type\":\"text\",\"text\":\"what?\"}]}]}";
        return Stream.of(
                Arguments.of("malformed JSON", "{\"messages\": [", 400, "not valid JSON"),
                Arguments.of("truncated JSON", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]", 400, "JSON"),
                Arguments.of("empty body", "", 400, null),
                Arguments.of("an array body", "[]", 400, "JSON object"),
                Arguments.of("a string body", "\"hi\"", 400, "JSON object"),
                Arguments.of("trailing garbage", ask("\"hi\"") + "}}", 400, "JSON"),
                Arguments.of("no messages", "{\"max_tokens\":3}", 400, "messages"),
                Arguments.of("messages a string", "{\"messages\":\"hi\"}", 400, "messages must be an array"),
                Arguments.of("messages empty", "{\"messages\":[]}", 400, "must not be empty"),
                Arguments.of("message a number", "{\"messages\":[1]}", 400, "messages[0]"),
                Arguments.of("unknown role", "{\"messages\":[{\"role\":\"wizard\",\"content\":\"hi\"}]}", 400,
                        "wizard"),
                Arguments.of("tool role", "{\"messages\":[{\"role\":\"tool\",\"content\":\"hi\"}]}", 400, "tool"),
                Arguments.of("no role", "{\"messages\":[{\"content\":\"hi\"}]}", 400, "messages[0].role"),
                Arguments.of("no content", "{\"messages\":[{\"role\":\"user\"}]}", 400, "messages[0].content"),
                Arguments.of("content a number", ask("42"), 400, "messages[0].content"),
                Arguments.of("part without type", ask("[{\"text\":\"hi\"}]"), 400, "type"),
                Arguments.of("audio part", ask("[{\"type\":\"input_audio\",\"input_audio\":{}}]"), 400, "input_audio"),
                Arguments.of("text part not a string", ask("[{\"type\":\"text\",\"text\":7}]"), 400, "text"),
                Arguments.of("image_url a string", ask("[{\"type\":\"image_url\",\"image_url\":\"x\"}]"), 400,
                        "image_url"),
                Arguments.of("image in an assistant message", "{\"messages\":[{\"role\":\"assistant\",\"content\":"
                        + "[{\"type\":\"image_url\",\"image_url\":{\"url\":\"" + png + "\"}}]},{\"role\":\"user\","
                        + "\"content\":\"hi\"}]}", 400, "user messages only"),
                Arguments.of("last message not the user's", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},"
                        + "{\"role\":\"assistant\",\"content\":\"yo\"}]}", 400, "last message"),
                Arguments.of("temperature a string", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                        + "\"temperature\":\"hot\"}", 400, "temperature"),
                Arguments.of("temperature out of range", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                        + "\"temperature\":9}", 400, "temperature"),
                Arguments.of("max_tokens negative", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                        + "\"max_tokens\":-5}", 400, "max_tokens"),
                Arguments.of("max_tokens fractional", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                        + "\"max_tokens\":1.5}", 400, "max_tokens"),
                Arguments.of("seed too large", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                        + "\"seed\":99999999999999999999}", 400, "seed"),
                Arguments.of("stop not strings", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                        + "\"stop\":[1,2]}", 400, "stop"),
                Arguments.of("stream a string", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                        + "\"stream\":\"yes\"}", 400, "stream"),
                Arguments.of("unsupported tools", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                        + "\"tools\":[{}]}", 400, "tools"),
                Arguments.of("n above 1", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"n\":3}", 400,
                        "n must be 1"),
                Arguments.of("duplicate keys", "{\"messages\":[],\"messages\":[]}", 400, "Duplicate"),
                Arguments.of("deep nesting", "{\"messages\":" + "[".repeat(5000) + "]".repeat(5000) + "}", 400,
                        null),
                Arguments.of("NUL in the text", ask("\"a\\u0000b\""), 400, "NUL"),
                Arguments.of("lone surrogate", ask("\"a\\ud800b\""), 400, "surrogate"),
                Arguments.of("invalid base64", imageMessage("data:image/png;base64,@@@@"), 400, "base64"),
                Arguments.of("base64 over the image limit", imageMessage(oversizedImage), 400, "image_too_large"),
                Arguments.of("base64 of text, not an image", imageMessage("data:image/png;base64,"
                        + Base64.getEncoder().encodeToString("hello world".getBytes(StandardCharsets.UTF_8))), 400,
                        "image"),
                Arguments.of("data URI of another media type", imageMessage("data:text/plain;base64,aGk="), 400,
                        "text/plain"),
                Arguments.of("image bomb: 40000 x 40000 declared", imageMessage(pngBomb(40000)), 400, "image"),
                Arguments.of("image bomb: 7000 x 7000 declared", imageMessage(pngBomb(7000)), 400, "image"),
                Arguments.of("too many images", fourImages, 400, "at most 3"),
                Arguments.of("URL to a loopback address", imageMessage("http://127.0.0.1:1/x.png"), 400,
                        "private"),
                Arguments.of("URL to a private address", imageMessage("http://10.0.0.1/x.png"), 400, "private"),
                Arguments.of("URL to the metadata address", imageMessage("http://169.254.169.254/latest"), 400,
                        "private"),
                Arguments.of("file URL without a media directory", imageMessage("file:///etc/passwd"), 400,
                        "media-dir"),
                Arguments.of("ftp URL", imageMessage("ftp://example.com/x.png"), 400, "image URL"),
                Arguments.of("prompt longer than the context", ask("\"" + "word ".repeat(6000) + "\""), 400,
                        "context_length_exceeded"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("badBodies")
    @Order(1)
    void badBodyIsAJsonError(String name, String body, int status, String mentions) {
        assertError(RawHttp.post(base, "/v1/chat/completions", body.getBytes(StandardCharsets.UTF_8), AUTH), status,
                mentions);
        assertAnswers();
    }

    static Stream<Arguments> badDetectionBodies() {
        String image = "{\"url\":\"" + pngBomb(1) + "\"}";
        return Stream.of(
                Arguments.of("truncated JSON", "{\"text\":", 400, "not valid JSON"),
                Arguments.of("no image", "{\"text\":\"[]\"}", 400, "image_url"),
                Arguments.of("text not a string", "{\"text\":[1],\"image_url\":" + image + "}", 400, "image_url"),
                Arguments.of("unknown field", "{\"text\":\"[]\",\"image_url\":" + image + ",\"boxes\":1}", 400,
                        "boxes"),
                Arguments.of("image bomb", "{\"text\":\"[]\",\"image_url\":{\"url\":\"" + pngBomb(50_000)
                        + "\"}}", 400, null),
                Arguments.of("private URL", "{\"text\":\"[]\",\"image_url\":{\"url\":\"http://127.0.0.1/x.png\"}}",
                        400, null));
    }

    @ParameterizedTest(name = "detections: {0}")
    @MethodSource("badDetectionBodies")
    @Order(1)
    void badDetectionBodyIsAJsonError(String name, String body, int status, String mentions) {
        assertError(RawHttp.post(base, "/v1/detections", body.getBytes(StandardCharsets.UTF_8), AUTH), status,
                mentions);
        assertAnswers();
    }

    @Test
    @Order(2)
    void invalidUtf8IsAJsonError() {
        byte[] body = RawHttp.concat("{\"messages\":[{\"role\":\"user\",\"content\":\"".getBytes(StandardCharsets.UTF_8),
                new byte[]{(byte) 0xff, (byte) 0xfe, '"', '}', ']', '}'});
        assertError(RawHttp.post(base, "/v1/chat/completions", body, AUTH), 400, null);
        assertAnswers();
    }

    @Test
    @Order(2)
    void oversizedBodyByContentLengthIs413() {
        assertError(RawHttp.post(base, "/v1/chat/completions", new byte[MAX_BODY + 1], AUTH), 413, "larger than");
        assertAnswers();
    }

    @Test
    @Order(2)
    void oversizedChunkedBodyIs413() {
        String head = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + AUTH
                + "Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n";
        ByteArrayOutputStream req = new ByteArrayOutputStream();
        req.writeBytes(head.getBytes(StandardCharsets.ISO_8859_1));
        byte[] chunk = new byte[64 * 1024];
        java.util.Arrays.fill(chunk, (byte) ' ');
        for (int i = 0; i < MAX_BODY / chunk.length + 2; i++) {
            req.writeBytes((Integer.toHexString(chunk.length) + "\r\n").getBytes(StandardCharsets.ISO_8859_1));
            req.writeBytes(chunk);
            req.writeBytes("\r\n".getBytes(StandardCharsets.ISO_8859_1));
        }
        req.writeBytes("0\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
        assertError(RawHttp.exchange(base, req.toByteArray()), 413, "larger than");
        assertAnswers();
    }

    @Test
    @Order(2)
    void missingOrWrongKeyIs401ButHealthIsOpen() {
        byte[] body = ask("\"hi\"").getBytes(StandardCharsets.UTF_8);
        assertError(RawHttp.post(base, "/v1/chat/completions", body, ""), 401, "API key");
        assertError(RawHttp.post(base, "/v1/chat/completions", body, "Authorization: Bearer wrong\r\n"), 401, null);
        assertError(RawHttp.post(base, "/v1/chat/completions", body, "Authorization: Basic dTpw\r\n"), 401, null);
        RawHttp.Reply health = RawHttp.exchange(base, "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                .getBytes(StandardCharsets.ISO_8859_1));
        assertEquals(200, health.status(), health.body());
        assertEquals("ok", health.json().path("status").asText());
        assertAnswers();
    }

    @Test
    @Order(2)
    void wrongMethodAndUnknownPathAreJsonErrors() {
        assertError(RawHttp.exchange(base, ("GET /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                + AUTH + "\r\n").getBytes(StandardCharsets.ISO_8859_1)), 405, "POST");
        assertError(RawHttp.exchange(base, ("GET /v2/nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + AUTH
                + "\r\n").getBytes(StandardCharsets.ISO_8859_1)), 404, null);
        assertAnswers();
    }

    @Test
    @Order(2)
    void malformedHttpIsRefusedCleanly() {
        RawHttp.Reply r = RawHttp.exchange(base, "BLAH\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
        assertTrue(r.status() == 400 || r.status() == -1, r.head());
        RawHttp.Reply huge = RawHttp.exchange(base, ("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + "a".repeat(64_000)
                + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
        assertTrue(huge.status() == 431 || huge.status() == 400 || huge.status() == -1, huge.head());
        assertAnswers();
    }

    @Test
    @Order(3)
    void slowAndAbandonedConnectionsAreClosed() throws Exception {
        // idle timeout is 1 s: a connection that says nothing, one that stops in its headers, one that stops in its
        // body; each must be closed by the server (read returns -1 or resets), bounded by the socket timeout
        String[] partial = {"", "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n",
                "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n" + AUTH + "Content-Length: 1000\r\n\r\n{\"mess"};
        for (String sent : partial) {
            try (Socket s = RawHttp.connect(base)) {
                s.setSoTimeout(15_000);
                s.getOutputStream().write(sent.getBytes(StandardCharsets.ISO_8859_1));
                s.getOutputStream().flush();
                InputStream in = s.getInputStream();
                int read;
                try {
                    do {
                        read = in.read();
                    } while (read >= 0);
                } catch (java.net.SocketException e) {
                    read = -1; // reset: closed too
                }
                assertEquals(-1, read, "the server closed the connection after: " + sent);
            }
            assertAnswers();
        }
    }

    /** Reads SSE events until {@code count} data lines have arrived. */
    private static void readEvents(InputStream in, int count) throws IOException {
        int seen = 0;
        StringBuilder line = new StringBuilder();
        for (int c; seen < count && (c = in.read()) >= 0; ) {
            if (c == '\n') {
                if (line.toString().startsWith("data: ")) {
                    seen++;
                }
                line.setLength(0);
            } else {
                line.append((char) c);
            }
        }
        assertEquals(count, seen, "the stream ended early");
    }

    private double metric(String name) {
        RawHttp.Reply r = RawHttp.exchange(base, ("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + AUTH
                + "\r\n").getBytes(StandardCharsets.ISO_8859_1));
        for (String line : r.body().split("\n")) {
            if (line.startsWith(name + " ") || line.startsWith(name + "{")) {
                return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        throw new AssertionError("no metric " + name + " in " + r.body());
    }

    private void awaitMetric(String name, double value) throws InterruptedException {
        for (int i = 0; i < 300 && metric(name) != value; i++) {
            Thread.sleep(100);
        }
        assertEquals(value, metric(name), name);
    }

    @Test
    @Order(4)
    void disconnectMidStreamCancelsTheGeneration() throws Exception {
        double before = metric("qwenvl_requests_cancelled_total");
        byte[] body = ("{\"messages\":[{\"role\":\"user\",\"content\":\"tell a long story\"}],\"stream\":true,"
                + "\"max_tokens\":3500}").getBytes(StandardCharsets.UTF_8);
        try (Socket s = RawHttp.connect(base)) {
            OutputStream out = s.getOutputStream();
            out.write(("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n" + AUTH + "Content-Type: application/json"
                    + "\r\nContent-Length: " + body.length + "\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
            out.write(body);
            out.flush();
            readEvents(s.getInputStream(), 3);
        }
        awaitMetric("qwenvl_requests_cancelled_total", before + 1);
        awaitMetric("qwenvl_requests_processing", 0);
        assertAnswers();
    }

    @Test
    @Order(4)
    void disconnectWhileWaitingForANonStreamedAnswerCancelsIt() throws Exception {
        double before = metric("qwenvl_requests_cancelled_total");
        byte[] body = ("{\"messages\":[{\"role\":\"user\",\"content\":\"tell a long story\"}],\"max_tokens\":3500}")
                .getBytes(StandardCharsets.UTF_8);
        try (Socket s = RawHttp.connect(base)) {
            OutputStream out = s.getOutputStream();
            out.write(("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n" + AUTH + "Content-Type: application/json"
                    + "\r\nContent-Length: " + body.length + "\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
            out.write(body);
            out.flush();
            awaitMetric("qwenvl_requests_processing", 1);
        }
        awaitMetric("qwenvl_requests_cancelled_total", before + 1);
        awaitMetric("qwenvl_requests_processing", 0);
        assertAnswers();
    }

    @Test
    @Order(5)
    void floodBeyondTheQueueGets503WithRetryAfterAndLosesNothing() throws Exception {
        byte[] body = ("{\"messages\":[{\"role\":\"user\",\"content\":\"count\"}],\"max_tokens\":64}")
                .getBytes(StandardCharsets.UTF_8);
        int clients = 12;
        List<RawHttp.Reply> replies = new ArrayList<>();
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<RawHttp.Reply>> futures = new ArrayList<>();
            for (int i = 0; i < clients; i++) {
                futures.add(pool.submit(() -> RawHttp.post(base, "/v1/chat/completions", body, AUTH)));
            }
            for (Future<RawHttp.Reply> f : futures) {
                replies.add(f.get(60, TimeUnit.SECONDS));
            }
        }
        long ok = replies.stream().filter(r -> r.status() == 200).count();
        long busy = replies.stream().filter(r -> r.status() == 503).count();
        assertEquals(clients, ok + busy, "every request answered 200 or 503: " + replies);
        assertTrue(ok >= 1 && busy >= 1, ok + " answered, " + busy + " refused");
        for (RawHttp.Reply r : replies) {
            if (r.status() == 503) {
                assertNotNull(r.header("Retry-After"), r.head());
                assertError(r, 503, "busy");
            }
        }
        assertAnswers();
    }

    @Test
    @Order(9)
    void noThreadsDescriptorsOrHeapPiledUp() throws Exception {
        assertAnswers();
        Thread.sleep(1500); // the idle timeout closes what the client side left half-open
        int threads = ManagementFactory.getThreadMXBean().getThreadCount();
        long fds = openFds();
        assertTrue(threads <= threadsBefore + 8, "platform threads grew from " + threadsBefore + " to " + threads);
        assertTrue(fds <= fdsBefore + 16, "file descriptors grew from " + fdsBefore + " to " + fds);
        long heap = heapAfterGc();
        assertTrue(heap <= heapBefore + (128L << 20), "the heap grew from " + (heapBefore >> 20) + " MiB to "
                + (heap >> 20) + " MiB");
    }
}
