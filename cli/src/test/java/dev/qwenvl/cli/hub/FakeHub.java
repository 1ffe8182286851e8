package dev.qwenvl.cli.hub;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A Hugging Face Hub on loopback serving one repository the way the real one does: {@code /api/models/{repo}/refs},
 * {@code /api/models/{repo}/tree/{commit}}, and {@code /{repo}/resolve/{commit}/{file}} redirecting to a CDN path
 * that honours {@code Range}.
 */
final class FakeHub implements AutoCloseable {

    static final String COMMIT = "0123456789abcdef0123456789abcdef01234567";

    /** One file of the repository: its bytes and the checksum the listing advertises (LFS or git). */
    record Served(byte[] content, String oid, boolean lfs) {
    }

    /** What a request asked for, as the server saw it. */
    record Request(String path, String range, String authorization) {
    }

    private final HttpServer server;
    private final String repo;
    private final Map<String, Served> files = new LinkedHashMap<>();
    private final List<Request> requests = new CopyOnWriteArrayList<>();
    private final AtomicInteger cutsLeft = new AtomicInteger();
    private volatile long cutAfter;

    FakeHub(String repo) throws IOException {
        this.repo = repo;
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/", this::handle);
        server.start();
    }

    String endpoint() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    /** Adds an LFS file whose listing carries its true SHA-256. */
    byte[] addLfs(String path, int size, long seed) {
        byte[] content = random(size, seed);
        files.put(path, new Served(content, hex("SHA-256", content), true));
        return content;
    }

    /** Adds an LFS file whose listing advertises the SHA-256 of other bytes. */
    void addLfsWithWrongOid(String path, int size, long seed) {
        byte[] content = random(size, seed);
        files.put(path, new Served(content, hex("SHA-256", random(size, seed + 1)), true));
    }

    /** Adds a small non-LFS file, listed with its git blob SHA-1. */
    void addGit(String path, String text) {
        byte[] content = text.getBytes(StandardCharsets.UTF_8);
        byte[] header = ("blob " + content.length + "\0").getBytes(StandardCharsets.US_ASCII);
        byte[] blob = new byte[header.length + content.length];
        System.arraycopy(header, 0, blob, 0, header.length);
        System.arraycopy(content, 0, blob, header.length, content.length);
        files.put(path, new Served(content, hex("SHA-1", blob), false));
    }

    /** The next {@code times} downloads send only {@code bytes} bytes of their file, then drop the connection. */
    void cutDownloads(int times, long bytes) {
        cutAfter = bytes;
        cutsLeft.set(times);
    }

    List<Request> requests() {
        return requests;
    }

    List<Request> downloads() {
        return requests.stream().filter(r -> r.path().startsWith("/cdn/")).toList();
    }

    /** A loopback port with nothing listening: connecting to it is refused. */
    static int closedPort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
    }

    static String sha256(byte[] content) {
        return hex("SHA-256", content);
    }

    private void handle(HttpExchange exchange) throws IOException {
        String path = exchange.getRequestURI().getPath();
        String range = exchange.getRequestHeaders().getFirst("Range");
        requests.add(new Request(path, range, exchange.getRequestHeaders().getFirst("Authorization")));
        String api = "/api/models/" + repo + "/";
        String resolve = "/" + repo + "/resolve/" + COMMIT + "/";
        try (exchange) {
            if (path.equals(api + "refs")) {
                json(exchange, "{\"branches\":[{\"name\":\"dev\",\"targetCommit\":\"" + "f".repeat(40) + "\"},"
                        + "{\"name\":\"main\",\"ref\":\"refs/heads/main\",\"targetCommit\":\"" + COMMIT + "\"}],\"tags\":[]}");
            } else if (path.equals(api + "tree/" + COMMIT)) {
                json(exchange, tree());
            } else if (path.startsWith(resolve) && files.containsKey(path.substring(resolve.length()))) {
                Served file = files.get(path.substring(resolve.length()));
                exchange.getResponseHeaders().add("Location", "/cdn/" + file.oid());
                exchange.getResponseHeaders().add("X-Repo-Commit", COMMIT);
                exchange.sendResponseHeaders(302, -1);
            } else if (path.startsWith("/cdn/")) {
                Served file = files.values().stream().filter(f -> path.equals("/cdn/" + f.oid())).findFirst().orElseThrow();
                serve(exchange, file.content(), range);
            } else {
                byte[] body = "{\"error\":\"Repository not found\"}".getBytes(StandardCharsets.UTF_8);
                exchange.sendResponseHeaders(404, body.length);
                exchange.getResponseBody().write(body);
            }
        }
    }

    private void serve(HttpExchange exchange, byte[] content, String range) throws IOException {
        int from = range == null ? 0 : Integer.parseInt(range.replaceAll("bytes=(\\d+)-", "$1"));
        if (range != null) {
            exchange.getResponseHeaders().add("Content-Range", "bytes " + from + "-" + (content.length - 1) + "/" + content.length);
        }
        exchange.sendResponseHeaders(range == null ? 200 : 206, content.length - from);
        OutputStream out = exchange.getResponseBody();
        if (cutsLeft.getAndDecrement() > 0) {
            // Closing short of the announced length makes the server drop the connection mid-body.
            out.write(content, from, (int) Math.min(cutAfter, content.length - from));
            out.flush();
            return;
        }
        out.write(content, from, content.length - from);
    }

    private String tree() {
        StringBuilder json = new StringBuilder("[{\"type\":\"directory\",\"oid\":\"" + "a".repeat(40) + "\",\"size\":0,\"path\":\"docs\"}");
        files.forEach((path, file) -> {
            json.append(",{\"type\":\"file\",\"path\":\"").append(path).append("\",\"size\":").append(file.content().length);
            if (file.lfs()) {
                json.append(",\"oid\":\"").append("b".repeat(40)).append("\",\"lfs\":{\"oid\":\"").append(file.oid())
                        .append("\",\"size\":").append(file.content().length).append(",\"pointerSize\":135}}");
            } else {
                json.append(",\"oid\":\"").append(file.oid()).append("\"}");
            }
        });
        return json.append(']').toString();
    }

    private static void json(HttpExchange exchange, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().add("Content-Type", "application/json");
        exchange.sendResponseHeaders(200, bytes.length);
        exchange.getResponseBody().write(bytes);
    }

    private static byte[] random(int size, long seed) {
        byte[] bytes = new byte[size];
        new Random(seed).nextBytes(bytes);
        return bytes;
    }

    private static String hex(String algorithm, byte[] content) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance(algorithm).digest(content));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
