package dev.qwenvl.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.ToDoubleFunction;

/** Medians over the repetitions, the facade/CLI ratios and the probe results, as Markdown. */
final class Report {
    static final String LOAD = "Model + mmproj load (ms)";
    static final String ENCODE = "Image encode (ms)";
    static final String PROMPT = "Prompt eval (tokens/s)";
    static final String GENERATION = "Generation, llama_decode (tokens/s)";
    static final String IN_PROCESS = "End-to-end in process (ms)";
    static final String PROCESS = "End-to-end, process wall (ms)";
    static final String PROMPT_WALL = "Prompt eval, facade wall clock (tokens/s)";
    static final String LOOP = "Generation loop with sampling and Java (tokens/s)";
    static final String SAMPLING = "Sampling per token (µs)";
    static final String OUTSIDE = "Generation time outside llama_decode and sampling, whole ask, fresh JVM (ms)";
    static final String JAVA = "Java overhead per generated token, steady state (µs)";
    static final String JAVA_SHARE = "Java overhead, share of the facade's time per token";
    static final String ALLOC = "Heap allocated per generated token, steady state (bytes)";
    static final String BANDWIDTH = "Memory read bandwidth (GB/s)";
    static final String WEIGHTS = "Text weights read per token (MB)";
    static final String BOUND = "Bandwidth bound for generation (tokens/s)";
    static final String FRACTION = "Generation as a fraction of the bound";
    static final String DECODE = "Image decode";
    /** Every row label the report must contain; the smoke test checks them. */
    static final List<String> ROWS = List.of(LOAD, ENCODE, PROMPT, GENERATION, IN_PROCESS, PROCESS, PROMPT_WALL, LOOP,
            SAMPLING, OUTSIDE, JAVA, JAVA_SHARE, ALLOC, BANDWIDTH, WEIGHTS, BOUND, FRACTION, DECODE + " 640x480 PNG",
            DECODE + " 640x480 JPG", DECODE + " 1920x1080 PNG", DECODE + " 1920x1080 JPG");

    private final BenchOptions options;
    private final List<Results> facade;
    private final List<Results> cli;
    private final Results probes;
    private final String machine;

    Report(BenchOptions options, List<Results> facade, List<Results> cli, Results probes, String machine) {
        this.options = options;
        this.facade = facade;
        this.cli = cli;
        this.probes = probes;
        this.machine = machine;
    }

    String markdown() {
        StringBuilder md = new StringBuilder();
        md.append("### ").append(options.model().equals("3b") ? "Realistic Qwen2.5-VL-3B pair (Q4_K_M text, F16 mmproj)"
                : "Tiny fixture pair (F16)").append("\n\n");
        md.append("`").append(options.describe()).append("`: ").append(options.reps()).append(" repetitions each,"
                + " alternated (facade, CLI, facade, ...), each in a fresh process; ").append(options.tokens())
                .append(" greedy tokens, ").append(options.threads()).append(" threads, flash attention off, a ")
                .append(options.imageWidth()).append("x").append(options.imageHeight())
                .append(" PNG, prompt \"").append(BenchOptions.PROMPT).append("\". Medians.\n\n");
        md.append(machine).append("\n\n");
        md.append("| Metric | Facade | llama-mtmd-cli | Facade/CLI | Facade speed vs CLI |\n");
        md.append("|---|---:|---:|---:|---:|\n");
        time(md, LOAD, r -> r.get("load_ms"));
        time(md, ENCODE, r -> r.get("encode_ms"));
        rate(md, PROMPT, r -> r.get("prompt_tokens") / r.get("prompt_ms") * 1e3);
        rate(md, GENERATION, r -> r.get("gen_runs") / r.get("gen_eval_ms") * 1e3);
        time(md, IN_PROCESS, r -> r.get("inproc_ms"));
        time(md, PROCESS, r -> r.get("process_wall_ms"));
        md.append("\n| Java side | Value |\n|---|---:|\n");
        row(md, PROMPT_WALL, num(median(facade, r -> r.get("prompt_tokens") / r.get("prompt_wall_ms") * 1e3)));
        row(md, LOOP, num(median(facade, r -> r.get("gen_tokens") / r.get("gen_wall_ms") * 1e3)));
        row(md, SAMPLING, num(median(facade, r -> r.get("sample_us"))));
        row(md, OUTSIDE, num(median(facade, r -> r.get("gen_outside_ms"))));
        double javaUs = probes.get("java_us_per_token");
        row(md, JAVA, num(javaUs));
        row(md, JAVA_SHARE, pct(javaUs / 1e3 / median(facade, r -> r.get("gen_wall_ms") / r.get("gen_tokens"))));
        row(md, ALLOC, num(probes.get("alloc_bytes_per_token")));
        double bandwidth = probes.get("bandwidth_gbs");
        double weights = probes.get("weight_bytes_per_token");
        double bound = bandwidth * 1e9 / weights;
        row(md, BANDWIDTH + ", " + options.threads() + " Java threads summing long[]", num(bandwidth));
        row(md, WEIGHTS, num(weights / 1e6));
        row(md, BOUND, num(bound));
        row(md, FRACTION + ", facade / CLI", pct(median(facade, r -> r.get("gen_runs") / r.get("gen_eval_ms") * 1e3)
                / bound) + " / " + pct(median(cli, r -> r.get("gen_runs") / r.get("gen_eval_ms") * 1e3) / bound));
        md.append("\n| ").append(DECODE).append(" (median ms) | ImageDecoder (Java) | stb_image (libmtmd) |"
                + " Java/stb |\n|---|---:|---:|---:|\n");
        for (int[] size : Probes.IMAGE_SIZES) {
            for (String format : Probes.IMAGE_FORMATS) {
                String key = format + "_" + size[0] + "x" + size[1];
                double java = probes.get("java_decode_ms_" + key);
                double stb = probes.get("stb_decode_ms_" + key);
                md.append("| ").append(DECODE).append(' ').append(size[0]).append('x').append(size[1]).append(' ')
                        .append(format.toUpperCase(Locale.ROOT)).append(" | ").append(num(java)).append(" | ")
                        .append(num(stb)).append(" | ").append(num(java / stb)).append(" |\n");
            }
        }
        md.append("\n").append(checks()).append("\n");
        return md.toString();
    }

    /** Both sides must have done the same work: full-length generations, the same decode and prompt counts. */
    String checks() {
        List<String> problems = new ArrayList<>();
        if (facade.stream().anyMatch(r -> r.get("gen_full") != 1 || r.get("gen_tokens") != options.tokens())) {
            problems.add("a facade run stopped before " + options.tokens() + " tokens");
        }
        double runs = facade.getFirst().get("gen_runs");
        double prompt = facade.getFirst().get("prompt_tokens");
        for (List<Results> side : List.of(facade, cli)) {
            if (side.stream().anyMatch(r -> r.get("gen_runs") != runs || r.get("prompt_tokens") != prompt)) {
                problems.add("decode counts differ between runs (generation runs " + runs + ", prompt tokens "
                        + prompt + " in the first facade run)");
                break;
            }
        }
        return problems.isEmpty()
                ? "Checks: every run generated " + options.tokens() + " tokens; facade and CLI evaluated the same "
                        + (long) prompt + " prompt tokens and " + (long) runs + " counted decode runs."
                : "**Checks failed: " + String.join("; ", problems) + ".**";
    }

    boolean passed() {
        return !checks().startsWith("**");
    }

    private void time(StringBuilder md, String label, ToDoubleFunction<Results> f) {
        double a = median(facade, f);
        double b = median(cli, f);
        md.append("| ").append(label).append(" | ").append(num(a)).append(" | ").append(num(b)).append(" | ")
                .append(num(a / b)).append(" | ").append(num(b / a)).append(" |\n");
    }

    private void rate(StringBuilder md, String label, ToDoubleFunction<Results> f) {
        double a = median(facade, f);
        double b = median(cli, f);
        md.append("| ").append(label).append(" | ").append(num(a)).append(" | ").append(num(b)).append(" | ")
                .append(num(a / b)).append(" | ").append(num(a / b)).append(" |\n");
    }

    private static void row(StringBuilder md, String label, String value) {
        md.append("| ").append(label).append(" | ").append(value).append(" |\n");
    }

    static double median(List<Results> runs, ToDoubleFunction<Results> f) {
        double[] v = runs.stream().mapToDouble(f).sorted().toArray();
        return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }

    static String num(double v) {
        double a = Math.abs(v);
        return String.format(Locale.ROOT, a >= 100 ? "%.0f" : a >= 10 ? "%.1f" : a >= 1 ? "%.2f" : "%.3f", v);
    }

    private static String pct(double v) {
        return String.format(Locale.ROOT, "%.2f%%", v * 100);
    }
}
