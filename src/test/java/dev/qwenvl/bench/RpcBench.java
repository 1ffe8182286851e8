package dev.qwenvl.bench;

import dev.qwenvl.testing.LocalRpcServers;
import dev.qwenvl.testing.ModelPair;
import dev.qwenvl.testing.TestImages;
import dev.qwenvl.testing.TinyModels;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.ToDoubleFunction;

/**
 * The cost of llama.cpp's RPC split ({@code scripts/bench.sh --rpc}): the facade with the text model's layers spread
 * over two loopback {@code rpc-server}s against the same facade run locally, alternated, each in a fresh JVM, on
 * the same pair, image, prompt and options; the greedy answers must be equal. On one machine the servers share its
 * cores and memory, so this measures the protocol's and the split's overhead, not what more machines would add.
 */
final class RpcBench {
    private RpcBench() {
    }

    /** Runs, prints and writes the report; false when an answer differed. */
    static boolean run(BenchOptions o) throws Exception {
        Files.createDirectories(o.out());
        ModelPair pair = TinyModels.pair(o.spec());
        Path image = TestImages.gradient(o.out().resolve("bench-" + o.imageWidth() + "x" + o.imageHeight() + ".png"),
                o.imageWidth(), o.imageHeight());
        List<Results> local = new ArrayList<>();
        List<Results> split = new ArrayList<>();
        boolean same = true;
        try (LocalRpcServers servers = LocalRpcServers.start(2)) {
            for (int rep = 1; rep <= o.reps(); rep++) {
                Path a = o.out().resolve("local-" + rep + ".answer");
                Path b = o.out().resolve("split-" + rep + ".answer");
                local.add(FacadeRun.inChild(o, pair, image, a, List.of(), "local-" + rep));
                split.add(FacadeRun.inChild(o, pair, image, b, servers.endpoints(), "split-" + rep));
                same &= Files.readString(a).equals(Files.readString(b));
                System.err.printf(Locale.ROOT, "repetition %d/%d: local %.0f ms, split %.0f ms%n", rep, o.reps(),
                        local.getLast().get("process_wall_ms"), split.getLast().get("process_wall_ms"));
            }
        }
        StringBuilder md = new StringBuilder("### RPC split over two loopback rpc-servers\n\n`")
                .append(o.describe()).append(" --rpc`: ").append(o.reps()).append(" repetitions each, alternated"
                        + " (local, split, ...), each in a fresh JVM; ").append(o.tokens())
                .append(" greedy tokens. Medians. Files: ").append(pair.text().getFileName()).append(", ")
                .append(pair.mmproj().getFileName()).append(".\n\n")
                .append("| Metric | Local | Split over 2 rpc-servers | Split/local |\n|---|---:|---:|---:|\n");
        row(md, "Model + mmproj load (ms)", local, split, r -> r.get("load_ms"));
        row(md, "Image encode (ms)", local, split, r -> r.get("encode_ms"));
        row(md, "Prompt eval (tokens/s)", local, split, r -> r.get("prompt_tokens") / r.get("prompt_ms") * 1e3);
        row(md, "Generation, llama_decode (tokens/s)", local, split, r -> r.get("gen_runs") / r.get("gen_eval_ms")
                * 1e3);
        row(md, "End-to-end, process wall (ms)", local, split, r -> r.get("process_wall_ms"));
        row(md, "Peak RSS of the facade's JVM, servers not included (MiB)", local, split,
                r -> r.get("peak_rss_bytes") / (1 << 20));
        md.append("\n").append(same ? "Checks: the split's greedy answers equal the local ones."
                : "**Checks failed: a split answer differs from the local one (" + o.out() + "/*.answer).**")
                .append("\n");
        Bench.publish(o.out(), "bench-rpc-", md.toString());
        return same;
    }

    private static void row(StringBuilder md, String label, List<Results> local, List<Results> split,
                            ToDoubleFunction<Results> f) {
        double a = Report.median(local, f);
        double b = Report.median(split, f);
        md.append("| ").append(label).append(" | ").append(Report.num(a)).append(" | ").append(Report.num(b))
                .append(" | ").append(Report.num(b / a)).append(" |\n");
    }
}
