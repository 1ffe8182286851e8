package dev.qwenvl.server;

import dev.qwenvl.ModelOptions;
import dev.qwenvl.VisionLanguageModel;
import dev.qwenvl.testing.ModelPair;
import dev.qwenvl.testing.Spec;
import dev.qwenvl.testing.TinyModels;

import java.net.URI;
import java.net.http.HttpClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * The server against llama-server (same build, model pair, requests and number of slots): total generated tokens per
 * second and the median time to the first streamed piece, at several numbers of concurrent clients, alternating the
 * two sides, each started afresh. Prints a Markdown table and writes it under target/bench. scripts/bench-server.sh
 * runs it: {@code [--model tiny|3b] [--levels 1,4,8] [--reps N] [--requests N] [--tokens N] [--threads N]
 * [--image WxH]}.
 */
public final class ServerBench {
    /**
     * Caps the vision graph both sides size for (the default 640x480 picture needs 391 tokens): at libmtmd's 4096 the
     * 3B projector's worst-case compute is about 18 GiB, more than a small machine has.
     */
    private static final int IMAGE_MAX_TOKENS = 1024;
    /** How long a request may wait for its first piece: the 3B pair's prefill takes minutes on a shared machine. */
    private static final java.time.Duration PATIENCE = java.time.Duration.ofMinutes(20);

    private record Run(double tokensPerSecond, double medianFirstPieceMs) {
    }

    private ServerBench() {
    }

    public static void main(String[] args) throws Exception {
        String model = "tiny";
        List<Integer> levels = List.of(1, 4, 8);
        int reps = 2;
        int requests = 4;
        int tokens = 32;
        int threads = Math.min(4, Runtime.getRuntime().availableProcessors());
        int[] size = {640, 480};
        for (int i = 0; i < args.length; i += 2) {
            String v = args[i + 1];
            switch (args[i]) {
                case "--model" -> model = v;
                case "--levels" -> levels = java.util.Arrays.stream(v.split(",")).map(Integer::valueOf).toList();
                case "--reps" -> reps = Integer.parseInt(v);
                case "--requests" -> requests = Integer.parseInt(v);
                case "--tokens" -> tokens = Integer.parseInt(v);
                case "--threads" -> threads = Integer.parseInt(v);
                case "--image" -> size = java.util.Arrays.stream(v.split("x")).mapToInt(Integer::parseInt).toArray();
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        ModelPair pair = TinyModels.pair(model.equals("3b") ? Spec.realistic3B() : Spec.tiny(Spec.Projector.QWEN25VL));
        String image = TinyServer.dataUri(TinyServer.png(size[0], size[1]));
        StringBuilder table = new StringBuilder(String.format(Locale.ROOT, "Server benchmark, %s pair, %d threads,"
                + " %d requests per client of %d tokens (%dx%d image + text, greedy, streamed), median of %d"
                + " runs%n%n"
                + "| clients | qwenvl tokens/s | llama-server tokens/s | ratio | qwenvl first piece ms |"
                + " llama-server first piece ms |%n|---|---|---|---|---|---|%n", model, threads, requests, tokens,
                size[0], size[1], reps));
        for (int level : levels) {
            List<Run> ours = new ArrayList<>();
            List<Run> theirs = new ArrayList<>();
            for (int r = 0; r < reps; r++) {
                ModelOptions options = ModelOptions.defaults().withThreads(threads)
                        .withFlashAttention(ModelOptions.FlashAttention.DISABLED).withContextSize(4096)
                        .withParallelSequences(level).withImageTokens(0, IMAGE_MAX_TOKENS);
                try (VisionServer server = VisionServer.start(ServerOptions.defaults().withPort(0)
                        .withParallel(level, 4 * level), () -> VisionLanguageModel.load(pair.text(), pair.mmproj(),
                        options))) {
                    server.awaitReady(java.time.Duration.ofMinutes(10));
                    System.err.println("qwenvl serve at " + server.uri() + ", " + level + " clients, run " + (r + 1));
                    ours.add(load(server.uri(), level, requests, tokens, image));
                }
                try (LlamaServer reference = LlamaServer.start(pair, level, threads,
                        List.of("--image-max-tokens", Integer.toString(IMAGE_MAX_TOKENS)))) {
                    System.err.println("llama-server at " + reference.uri() + ", " + level + " clients, run " + (r + 1));
                    theirs.add(load(reference.uri(), level, requests, tokens, image));
                }
            }
            Run a = median(ours);
            Run b = median(theirs);
            table.append(String.format(Locale.ROOT, "| %d | %.1f | %.1f | %.2f | %.0f | %.0f |%n", level,
                    a.tokensPerSecond(), b.tokensPerSecond(), a.tokensPerSecond() / b.tokensPerSecond(),
                    a.medianFirstPieceMs(), b.medianFirstPieceMs()));
            System.out.print(table);
        }
        Path out = Path.of("target", "bench", "server-" + LocalDate.now() + ".md");
        Files.createDirectories(out.getParent());
        Files.writeString(out, table);
        System.out.println("written to " + out.toAbsolutePath());
    }

    /** {@code clients} clients each sending {@code requests} streamed requests one after another. */
    private static Run load(URI base, int clients, int requests, int tokens, String image) throws Exception {
        String body = "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\""
                + image + "\"}},{\"type\":\"text\",\"text\":\"Describe this picture.\"}]}],\"temperature\":0,"
                + "\"max_tokens\":" + tokens + ",\"stream\":true,\"stream_options\":{\"include_usage\":true}}";
        SseClient.stream(base, body, PATIENCE); // warm-up: page the weights in, size the buffers
        List<Double> firstPieces = Collections.synchronizedList(new ArrayList<>());
        long[] generated = new long[1];
        long t0 = System.nanoTime();
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<?>> all = new ArrayList<>();
            for (int c = 0; c < clients; c++) {
                all.add(pool.submit(() -> {
                    for (int r = 0; r < requests; r++) {
                        long start = System.nanoTime();
                        SseClient.Stream s;
                        // a connection of its own: llama-server closes kept-alive connections that a pooled client
                        // then reuses ("header parser received no bytes"), which would measure keep-alive, not serving
                        try (HttpClient http = HttpClient.newHttpClient()) {
                            s = SseClient.stream(http, base, body, PATIENCE);
                        } catch (java.io.IOException e) { // which server, and after how long, tells who closed
                            throw new java.io.IOException(String.format(Locale.ROOT, "request %d of a client of %s"
                                    + " failed after %.0f ms", r + 1, base, (System.nanoTime() - start) / 1e6), e);
                        }
                        firstPieces.add(s.firstPieceNanos() < 0 ? Double.NaN : (s.firstPieceNanos() - start) / 1e6);
                        synchronized (generated) {
                            generated[0] += s.usage().path("completion_tokens").asLong();
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : all) {
                f.get(30, TimeUnit.MINUTES);
            }
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        List<Double> sorted = new ArrayList<>(firstPieces);
        Collections.sort(sorted);
        return new Run(generated[0] / seconds, sorted.get(sorted.size() / 2));
    }

    private static Run median(List<Run> runs) {
        List<Double> tps = runs.stream().map(Run::tokensPerSecond).sorted().toList();
        List<Double> first = runs.stream().map(Run::medianFirstPieceMs).sorted().toList();
        return new Run(tps.get(tps.size() / 2), first.get(first.size() / 2));
    }
}
