package dev.qwenvl;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Native leaks, in a child JVM with a fixed, pre-touched 192 MB heap (so heap growth does not show in RSS): 200
 * load/close cycles of the tiny pair and 3,000 short generations in one conversation must not grow the resident set
 * beyond a bound, nor the open file descriptors at all, and must leave no non-daemon thread (the child's main returns
 * without System.exit, so one left alive would hang it past the harness's timeout).
 *
 * <p>The bounds, measured from a baseline taken after a warm-up: RSS rises in steps while malloc's arenas and the
 * JIT settle (about 25 MB over the first 1,200 generations), so the baselines are cycle 20 and generation 1,000;
 * after that it still takes one step of about 10-20 MB, near generation 2,000 on this machine and elsewhere on others,
 * while malloc's bytes in use (mallinfo2) stay flat: pages of buffers allocated earlier being touched, not a leak. So
 * the generations are measured in two spans of 1,000 and the smaller growth is held to the bound: a leak grows in
 * every span, a one-off step shows in one. Loads: one load maps the 45 MB text GGUF and builds a 151,936-token vocabulary, and a context
 * holds a KV cache and compute buffers of megabytes; 128 MB over 180 cycles allows 0.7 MB a cycle, so a leaked model
 * (tens of MB of vocabulary and weights each) fails it by far (seen: 5 MB on a quiet machine, 49 MB in a run beside
 * other builds, where malloc kept more arenas). Generations: 16 MB over 1,000 allows 16 KB a generation, so a leaked logits
 * copy (600 KB), sampler candidate array (1.8 MB) or batch fails it; a leak of a few hundred bytes a generation
 * would pass unnoticed (seen: 0 MB in the quiet span, 10-22 MB in the span with the step).
 */
class HostileLeaksTest {
    static final long LOAD_GROWTH_LIMIT = 128L << 20;
    static final long GENERATION_GROWTH_LIMIT = 16L << 20;
    private static Path dir;

    @BeforeAll
    static void tinyPair(@TempDir Path tmp) {
        dir = tmp;
        HostileChild.tinyPair();
    }

    /** The loads and the generations run in two child JVMs at once: each is single-threaded, the machine has 2 cores. */
    @TestFactory
    Stream<DynamicTest> nothingLeaks() {
        HostileJvm loads = new HostileJvm(dir.resolve("loads"), 420, "-Xms192m", "-Xmx192m", "-XX:+AlwaysPreTouch");
        HostileJvm generations = new HostileJvm(dir.resolve("generations"), 420, "-Xms192m", "-Xmx192m",
                "-XX:+AlwaysPreTouch");
        CompletableFuture<Map<String, HostileJvm.Outcome>> first = CompletableFuture.supplyAsync(
                () -> loads.run("leaks", List.of(), List.of("200-load-close-cycles")));
        Map<String, HostileJvm.Outcome> outcomes = new LinkedHashMap<>(generations.run("leaks", List.of(),
                List.of("3000-generations-reset-every-50", "stream-threads-end")));
        outcomes.putAll(first.join());
        HostileJvm.report("leaks", "Leaks", outcomes);
        List<String> info = new ArrayList<>(loads.lastInfo());
        info.addAll(generations.lastInfo());
        return Stream.concat(HostileJvm.asTests(outcomes),
                Stream.of(DynamicTest.dynamicTest("no non-daemon thread left", () -> assertEquals(2,
                        info.stream().filter(l -> l.equals("threads []")).count(),
                        "live non-daemon threads at the end of each child: " + info))));
    }

    // --- the child side ---

    static Map<String, HostileChild.Case> cases(List<String> args) {
        // no vision warm-up: it encodes a 46x46-patch image and allocates nothing lasting; one thread, since two spin
        // against each other on a busy 2-core machine (10x slower); 50 turns of about 16 tokens fit in 1024
        ModelOptions options = ModelOptions.defaults().withThreads(1).withContextSize(1024).withWarmup(false);
        Map<String, HostileChild.Case> cases = new LinkedHashMap<>();
        cases.put("200-load-close-cycles", () -> {
            Usage warm = null;
            long t0 = System.nanoTime();
            for (int i = 0; i < 200; i++) {
                if (i % 20 == 0) {
                    HostileChild.info("cycle " + i + " at " + (System.nanoTime() - t0) / 1_000_000 + " ms");
                }
                try (VisionLanguageModel m = HostileChild.tinyModel(options)) {
                    if (i % 10 == 0) { // a context and a decode every tenth cycle: their buffers must go too
                        try (Conversation c = m.newConversation()) {
                            c.ask(Message.of("Hi"), SamplingOptions.greedy().withMaxTokens(1));
                        }
                    }
                }
                if (i == 19) {
                    warm = Usage.now();
                }
            }
            return Usage.now().checkAgainst(warm, LOAD_GROWTH_LIMIT, "cycles 20 to 200");
        });
        cases.put("3000-generations-reset-every-50", () -> {
            // Each reset offers the conversation to the prefix cache: a 4 MiB bound is full long before generation
            // 1,000, so what is measured is steady-state eviction, not the cache legitimately filling up.
            try (VisionLanguageModel m = HostileChild.tinyModel(options.withPrefixCacheBytes(4L << 20));
                 Conversation c = m.newConversation()) {
                List<Usage> marks = new ArrayList<>();
                for (int i = 0; i < 3000; i++) {
                    if (i % 50 == 0) {
                        c.reset();
                    }
                    c.ask(Message.of("Hi " + i), SamplingOptions.greedy().withMaxTokens(2));
                    if (i % 250 == 0) {
                        HostileChild.info("generation " + i);
                    }
                    if (i % 1000 == 999) {
                        marks.add(Usage.now());
                        HostileChild.info("prefix cache at generation " + (i + 1) + ": " + m.prefixCacheStats());
                    }
                }
                // the span that grew less is held to the bound; the other's growth is reported beside it
                int quiet = marks.get(1).rssBytes - marks.get(0).rssBytes
                        <= marks.get(2).rssBytes - marks.get(1).rssBytes ? 0 : 1;
                String other = "; the other span grew " + ((marks.get(2 - quiet).rssBytes
                        - marks.get(1 - quiet).rssBytes) >> 10) + " KB";
                int from = 1000 * (quiet + 1);
                return marks.get(quiet + 1).checkAgainst(marks.get(quiet), GENERATION_GROWTH_LIMIT,
                        "generations " + from + " to " + (from + 1000)) + other;
            }
        });
        cases.put("stream-threads-end", () -> {
            try (VisionLanguageModel m = HostileChild.tinyModel(options); Conversation c = m.newConversation()) {
                for (int i = 0; i < 20; i++) {
                    try (Stream<String> s = c.stream(Message.of("Hi"), SamplingOptions.greedy().withMaxTokens(50))) {
                        s.limit(2).forEach(piece -> { });
                    }
                }
            }
            long alive = Thread.getAllStackTraces().keySet().stream()
                    .filter(t -> t.getName().equals("qwenvl-generation")).count();
            assertEquals(0, alive, "generation threads still alive after their streams closed");
            return "20 streams closed early; no generation thread left";
        });
        return cases;
    }

    /** Resident set and open file descriptors of this process, after a GC. */
    private record Usage(long rssBytes, long fds) {
        static Usage now() throws IOException {
            System.gc();
            long rss = Files.readAllLines(Path.of("/proc/self/status")).stream()
                    .filter(l -> l.startsWith("VmRSS:")).findFirst()
                    .map(l -> Long.parseLong(l.replaceAll("\\D", "")) * 1024).orElseThrow();
            try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
                return new Usage(rss, fds.count());
            }
        }

        String checkAgainst(Usage warm, long limit, String span) {
            long growth = rssBytes - warm.rssBytes;
            String seen = span + ": RSS " + (warm.rssBytes >> 20) + " -> " + (rssBytes >> 20) + " MB (growth "
                    + (growth >> 10) + " KB, limit " + (limit >> 20) + " MB), fds " + warm.fds + " -> " + fds;
            HostileChild.info(seen);
            assertTrue(growth < limit, seen);
            assertTrue(fds <= warm.fds, "file descriptors grew: " + seen);
            return seen;
        }
    }
}
