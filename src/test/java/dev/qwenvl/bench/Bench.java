package dev.qwenvl.bench;

import dev.qwenvl.MemoryPlan;
import dev.qwenvl.testing.ModelPair;
import dev.qwenvl.testing.Spec;
import dev.qwenvl.testing.TestImages;
import dev.qwenvl.testing.TinyModels;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Measures the facade against llama.cpp's own {@code llama-mtmd-cli} on the same build, files and settings, in one
 * run on one machine, and writes a Markdown report to {@code target/bench/bench-<date>.md}. Run it through
 * {@code scripts/bench.sh} (options in {@link BenchOptions}).
 *
 * <p>Each repetition is a fresh process on both sides, alternated facade, CLI, facade, CLI so that drifting machine
 * load hits both alike; a last JVM runs the {@link Probes}. Model pairs come from {@link TinyModels}, made once and
 * cached outside the repository.
 */
public final class Bench {
    private Bench() {
    }

    public static void main(String[] args) throws Exception {
        BenchOptions o = BenchOptions.parse(args);
        Report report = o.rpc() ? null : run(o);
        boolean passed = o.rpc() ? RpcBench.run(o) : report == null || report.passed();
        if (!passed) {
            System.exit(1);
        }
    }

    /**
     * Runs everything, prints the report and writes it; the report says whether both sides did the same work (null
     * for the batched mode, whose report carries its own checks).
     */
    static Report run(BenchOptions o) throws IOException {
        Files.createDirectories(o.out());
        double loadBefore = ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
        ModelPair pair = TinyModels.pair(o.spec());
        Path image = TestImages.gradient(o.out().resolve("bench-" + o.imageWidth() + "x" + o.imageHeight() + ".png"),
                o.imageWidth(), o.imageHeight());
        if (o.batched()) {
            String md = BatchedBench.run(o, pair, image);
            publish(o.out(), "batched-", md + "\n" + machine(loadBefore, ManagementFactory.getOperatingSystemMXBean()
                    .getSystemLoadAverage(), pair) + "\n");
            return null;
        }
        List<Results> facade = new ArrayList<>();
        List<Results> cli = new ArrayList<>();
        // what FacadeRun loads: the plan's prediction for it, measured before any run
        MemoryPlan plan = MemoryPlan.of(pair.text(), pair.mmproj(), o.modelOptions());
        System.err.print(plan);
        boolean sameAnswers = true;
        for (int rep = 1; rep <= o.reps(); rep++) {
            Path facadeAnswer = o.out().resolve("facade-" + rep + ".answer");
            Path cliAnswer = o.out().resolve("cli-" + rep + ".answer");
            facade.add(FacadeRun.inChild(o, pair, image, facadeAnswer, List.of(), "facade-" + rep));
            try (PeakRss rss = new PeakRss()) {
                cli.add(CliRun.run(pair, image, o, cliAnswer)
                        .put("peak_rss_bytes", rss.peakBytes()));
            }
            sameAnswers &= Files.readString(facadeAnswer).equals(Files.readString(cliAnswer));
            System.err.printf(Locale.ROOT, "repetition %d/%d: facade %.0f ms, CLI %.0f ms%n", rep, o.reps(),
                    facade.getLast().get("process_wall_ms"), cli.getLast().get("process_wall_ms"));
        }
        ModelPair tiny = TinyModels.pair(Spec.tiny(Spec.Projector.QWEN25VL)); // Probes runs Java's share on it
        int shortTokens = 4;
        int longTokens = shortTokens + (o.smoke() ? 8 : 64);
        Results probes = ChildJvm.run(Probes.class, o.out().resolve("probes.stderr"),
                List.of(tiny.text().toString(), tiny.mmproj().toString(), pair.text().toString(),
                        Integer.toString(o.threads()), o.out().toString(), Integer.toString(shortTokens),
                        Integer.toString(longTokens), Integer.toString(o.smoke() ? 2 : 7),
                        Integer.toString(o.smoke() ? 64 : 1024), Integer.toString(o.smoke() ? 1 : 5)));
        double loadAfter = ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
        Report report = new Report(o, facade, cli, probes, machine(loadBefore, loadAfter, pair), plan.needed(),
                sameAnswers);
        publish(o.out(), "bench-", report.markdown());
        return report;
    }

    /** Prints a report and writes it to {@code <dir>/<prefix><date>.md}. */
    static void publish(Path dir, String prefix, String md) throws IOException {
        System.out.println(md);
        Path file = dir.resolve(prefix + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyy-MM-dd-HHmmss"))
                + ".md");
        Files.writeString(file, md);
        System.err.println("written to " + file);
    }

    private static String machine(double loadBefore, double loadAfter, ModelPair pair) throws IOException {
        String cpu = Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("model name"))
                .map(l -> l.substring(l.indexOf(':') + 1).strip()).findFirst().orElse("unknown CPU");
        return String.format(Locale.ROOT, "Machine: %s, %d cores; JDK %s; load average %.2f before, %.2f after."
                        + " Files: %s (%,d bytes), %s (%,d bytes).", cpu, Runtime.getRuntime().availableProcessors(),
                Runtime.version(), loadBefore, loadAfter, pair.text().getFileName(), Files.size(pair.text()),
                pair.mmproj().getFileName(), Files.size(pair.mmproj()));
    }
}
