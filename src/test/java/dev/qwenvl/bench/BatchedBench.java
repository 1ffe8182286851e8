package dev.qwenvl.bench;

import dev.qwenvl.testing.ModelPair;
import dev.qwenvl.testing.ReferenceCli;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code scripts/bench.sh --batched}: parallel sequences against llama.cpp's own tools on the same build, alternated
 * per repetition: {@link BatchedRun} in a fresh JVM, {@code llama-batched-bench} with the same total context
 * ({@code -c contextSize × max N}, so each of its sequences has ours), prompt length, token count, threads and
 * sequence counts, and {@code llama-mtmd-cli} rerun with the whole history for the follow-up question.
 */
final class BatchedBench {
    static final int[] SEQUENCES = {1, 2, 4, 8};
    private static final Pattern JSONL = Pattern.compile("\"pl\": (\\d+),.*\"speed_tg\": ([\\d.]+)");

    private BatchedBench() {
    }

    static String run(BenchOptions o, ModelPair pair, Path image) {
        List<Results> facade = new ArrayList<>();
        List<Results> llama = new ArrayList<>();
        List<Results> cli = new ArrayList<>();
        String seqs = String.join(",", java.util.Arrays.stream(SEQUENCES).mapToObj(Integer::toString).toList());
        for (int rep = 1; rep <= o.reps(); rep++) {
            Results f = ChildJvm.run(BatchedRun.class, o.out().resolve("batched-" + rep + ".stderr"),
                    List.of(pair.text().toString(), pair.mmproj().toString(), image.toString(),
                            Integer.toString(o.threads()), Integer.toString(o.contextSize()),
                            Integer.toString(o.tokens()), seqs, o.out().toString()));
            facade.add(f);
            llama.add(batchedBench(o, pair, (int) f.get("n1_prompt_tokens"), seqs));
            cli.add(wholeHistory(o, pair, image));
            System.err.printf(Locale.ROOT, "repetition %d/%d done%n", rep, o.reps());
        }
        StringBuilder md = new StringBuilder("### Parallel sequences and caches\n\n`").append(o.describe())
                .append("`: ").append(o.reps()).append(" repetitions, alternated (facade JVM, llama-batched-bench,"
                        + " llama-mtmd-cli); ").append(o.tokens()).append(" greedy tokens per sequence, ")
                .append(o.threads()).append(" threads, ").append(o.contextSize()).append(" tokens of context per"
                        + " sequence on both sides, flash attention off. Medians.\n\n");
        md.append("| Sequences | Facade, generation (tokens/s) | llama-batched-bench S_TG (tokens/s)"
                + " | Facade / llama.cpp | Outside llama.cpp's timers and sampling (µs/token) | Sampling (µs/token)"
                + " | Heap (bytes/token) |\n"
                + "|---:|---:|---:|---:|---:|---:|---:|\n");
        for (int n : SEQUENCES) {
            String k = "n" + n + "_";
            double ours = Report.median(facade, r -> r.get(k + "tokens_per_s"));
            double theirs = Report.median(llama, r -> r.get(k + "speed_tg"));
            md.append("| ").append(n).append(" | ").append(num(ours)).append(" | ").append(num(theirs)).append(" | ")
                    .append(num(ours / theirs)).append(" | ")
                    .append(num(Report.median(facade, r -> r.get(k + "outside_us_per_token")))).append(" | ")
                    .append(num(Report.median(facade, r -> r.get(k + "sample_us")))).append(" | ")
                    .append(num(Report.median(facade, r -> r.get(k + "alloc_bytes_per_token")))).append(" |\n");
        }
        double cold = Report.median(facade, r -> r.get("ttft_cold_ms"));
        double cached = Report.median(facade, r -> r.get("ttft_cached_ms"));
        double followUp = Report.median(facade, r -> r.get("ttft_followup_ms"));
        double rerun = Report.median(cli, r -> r.get("process_wall_ms"));
        md.append("\n| Time to the first piece (ms) | Value | Ratio | Prompt tokens (from the prefix cache) |"
                        + " Encode / prompt eval (ms) |\n|---|---:|---:|---:|---:|\n")
                .append("| New conversation, image never seen (cold) | ").append(num(cold)).append(" | | ")
                .append(where(facade, "cold"))
                .append("| New conversation, same image, caches warm | ").append(num(cached))
                .append(" | cold / cached ").append(num(cold / cached)).append(" | ").append(where(facade, "cached"))
                .append("| Follow-up question, same conversation | ").append(num(followUp)).append(" | | ")
                .append(where(facade, "followup"))
                .append("| llama-mtmd-cli rerun with the whole history, -n 1, process wall | ").append(num(rerun))
                .append(" | rerun / follow-up ").append(num(rerun / followUp)).append(" | | |\n\n");
        List<String> problems = new ArrayList<>();
        for (int n : SEQUENCES) {
            if (facade.stream().anyMatch(r -> r.get("n" + n + "_full") != 1)) {
                problems.add("a facade sequence of N=" + n + " stopped before " + o.tokens() + " tokens");
            }
        }
        if (facade.stream().anyMatch(r -> r.get("cached_encode_ms") > 0 || r.get("cached_cached_tokens") < 1)) {
            problems.add("the cached conversation encoded its image again or took no cells from the prefix cache");
        }
        md.append(problems.isEmpty() ? "Checks: every sequence generated " + o.tokens() + " tokens; the cached"
                + " conversation encoded nothing and took over a prefix."
                : "**Checks failed: " + String.join("; ", problems) + ".**").append("\n");
        return md.toString();
    }

    /** The last two cells of a first-piece row: the prompt's tokens (cached ones) and where its time went. */
    private static String where(List<Results> facade, String key) {
        return num(Report.median(facade, r -> r.get(key + "_prompt_tokens"))) + " ("
                + num(Report.median(facade, r -> r.get(key + "_cached_tokens"))) + ") | "
                + num(Report.median(facade, r -> r.get(key + "_encode_ms"))) + " / "
                + num(Report.median(facade, r -> r.get(key + "_prompt_eval_ms"))) + " |\n";
    }

    /** llama-batched-bench's S_TG per sequence count, as {@code n<N>_speed_tg}. */
    private static Results batchedBench(BenchOptions o, ModelPair pair, int promptTokens, String seqs) {
        int max = java.util.Arrays.stream(SEQUENCES).max().orElseThrow();
        List<String> command = List.of(Path.of(System.getProperty(ReferenceCli.BIN_PROPERTY), "llama-batched-bench")
                        .toString(), "-m", pair.text().toString(), "-c", Integer.toString(o.contextSize() * max),
                "-b", "2048", "-ub", "512", "-npp", Integer.toString(promptTokens), "-ntg",
                Integer.toString(o.tokens()), "-npl", seqs, "-t", Integer.toString(o.threads()), "-fa", "off",
                "--output-format", "jsonl");
        String out = exec(command, o.out().resolve("llama-batched-bench.stderr"));
        Results r = new Results();
        Matcher m = JSONL.matcher(out);
        while (m.find()) {
            r.put("n" + m.group(1) + "_speed_tg", Double.parseDouble(m.group(2)));
        }
        return r;
    }

    /** llama-mtmd-cli asked the follow-up with the first question and answer resent, as a stateless rerun. */
    private static Results wholeHistory(BenchOptions o, ModelPair pair, Path image) {
        String answer;
        try {
            answer = Files.readString(o.out().resolve("answer.txt"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        long t0 = System.nanoTime();
        ReferenceCli.Result r = ReferenceCli.run(pair, image, BatchedRun.FIRST + "\n" + answer + "\n"
                + BatchedRun.FOLLOW_UP, 1, "-t", Integer.toString(o.threads()), "-c",
                Integer.toString(o.contextSize()), "--image-max-tokens", Integer.toString(BatchedRun.IMAGE_MAX_TOKENS));
        long took = System.nanoTime() - t0;
        if (r.exitCode() != 0) {
            throw new IllegalStateException("llama-mtmd-cli exited with " + r.exitCode() + ":\n" + r.stderrTail());
        }
        return new Results().put("process_wall_ms", took / 1e6);
    }

    /** Runs a tool, its stderr to a file; returns what it printed (stdout and its log). */
    private static String exec(List<String> command, Path stderr) {
        ProcessBuilder b = new ProcessBuilder(command).redirectError(stderr.toFile());
        b.environment().keySet().removeIf(k -> k.startsWith("LLAMA_ARG_") || k.startsWith("GGML_"));
        try {
            Process p = b.start();
            p.getOutputStream().close();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(1800, TimeUnit.SECONDS) || p.exitValue() != 0) {
                p.destroyForcibly();
                throw new IllegalStateException(command.getFirst() + " failed; see " + stderr);
            }
            return out + Files.readString(stderr, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + command, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while running " + command.getFirst(), e);
        }
    }

    private static String num(double v) {
        return Report.num(v);
    }
}
