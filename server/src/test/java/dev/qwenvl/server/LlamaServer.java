package dev.qwenvl.server;

import dev.qwenvl.testing.ModelPair;
import dev.qwenvl.testing.ReferenceCli;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * llama.cpp's own {@code llama-server}, built from the same pinned tree on the same libraries (in the directory of
 * the system property {@value ReferenceCli#BIN_PROPERTY}), on loopback: the reference the server is compared with.
 * By default one slot, greedy, flash attention off, two threads, 4096 tokens per slot, no web UI, no memory fitting.
 */
final class LlamaServer implements AutoCloseable {
    private static final Duration STARTUP = Duration.ofSeconds(120);
    private final Process process;
    private final URI uri;
    private final Path log;

    private LlamaServer(Process process, URI uri, Path log) {
        this.process = process;
        this.uri = uri;
        this.log = log;
    }

    static LlamaServer start(ModelPair pair) throws IOException, InterruptedException {
        return start(pair, 1, 2);
    }

    /** With {@code slots} slots of 4096 tokens each and {@code threads} threads. */
    static LlamaServer start(ModelPair pair, int slots, int threads) throws IOException, InterruptedException {
        return start(pair, slots, threads, List.of());
    }

    /** As {@link #start(ModelPair, int, int)}, with more of llama-server's options. */
    static LlamaServer start(ModelPair pair, int slots, int threads, List<String> more) throws IOException,
            InterruptedException {
        Path bin = Path.of(System.getProperty(ReferenceCli.BIN_PROPERTY), "llama-server");
        if (!Files.isExecutable(bin)) {
            throw new IllegalStateException("no executable llama-server in " + bin.getParent()
                    + " (scripts/build-native.sh builds it)");
        }
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        List<String> command = new ArrayList<>(List.of(bin.toString(), "-m", pair.text().toString(), "--mmproj",
                pair.mmproj().toString(), "--host", "127.0.0.1", "--port", Integer.toString(port), "-fa", "off",
                "-t", Integer.toString(threads), "-c", Integer.toString(4096 * slots), "-np", Integer.toString(slots),
                "--temp", "0", "--no-webui", "-fit", "off"));
        command.addAll(more);
        Path log = Files.createTempFile("llama-server", ".log");
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(log.toFile());
        builder.environment().keySet().removeIf(k -> k.startsWith("LLAMA_ARG_") || k.startsWith("MTMD_")
                || k.startsWith("GGML_") || k.startsWith("LLAMA_"));
        LlamaServer server = new LlamaServer(builder.start(), URI.create("http://127.0.0.1:" + port), log);
        server.awaitHealthy();
        return server;
    }

    private void awaitHealthy() throws IOException, InterruptedException {
        HttpClient http = HttpClient.newHttpClient();
        long deadline = System.nanoTime() + STARTUP.toNanos();
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IllegalStateException("llama-server exited with " + process.exitValue() + ": "
                        + Files.readString(log));
            }
            try {
                HttpResponse<String> r = http.send(HttpRequest.newBuilder(uri.resolve("/health"))
                        .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() == 200) {
                    return;
                }
            } catch (IOException e) {
                // not listening yet
            }
            Thread.sleep(200);
        }
        close();
        throw new IllegalStateException("llama-server was not healthy within " + STARTUP + ": " + Files.readString(log));
    }

    URI uri() {
        return uri;
    }

    @Override
    public void close() throws IOException, InterruptedException {
        process.destroy();
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
            process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
        Files.deleteIfExists(log);
    }
}
