package dev.qwenvl.bench;

import dev.qwenvl.testing.ModelPair;
import dev.qwenvl.testing.ReferenceCli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One {@code llama-mtmd-cli} repetition through {@link ReferenceCli} (greedy, {@code -fa off}), its numbers read from
 * its stderr.
 *
 * <p>{@code -lv 4} is the one addition: llama.cpp logs {@code llama_perf_context_print} at GGML INFO, which common's
 * logger files under verbosity 4 (common/log.cpp, common_log_get_verbosity), so at the default verbosity 3 the perf
 * lines never print. It changes what is logged, nothing that is computed. Every line carries common's timestamp
 * ({@code M.SS.mmm.uuu}, from the logger's start at process start), which gives the load and in-process times.
 */
final class CliRun {
    private static final Pattern STAMP = Pattern.compile("^(\\d+)\\.(\\d{2})\\.(\\d{3})\\.(\\d{3}) ", Pattern.MULTILINE);
    private static final Pattern ENCODE = Pattern.compile("mtmd batch encoding done in (\\d+) ms");
    private static final Pattern PROMPT =
            Pattern.compile("llama_perf_context_print: prompt eval time =\\s*([\\d.]+) ms /\\s*(\\d+) tokens");
    private static final Pattern EVAL =
            Pattern.compile("llama_perf_context_print:\\s+eval time =\\s*([\\d.]+) ms /\\s*(\\d+) runs");

    private CliRun() {
    }

    /** Runs the CLI once; its answer (stdout without the framing newlines) is written to {@code answerFile}. */
    static Results run(ModelPair pair, Path image, BenchOptions o, Path answerFile) throws IOException {
        long start = System.nanoTime();
        ReferenceCli.Result r = ReferenceCli.run(pair, image, BenchOptions.PROMPT, o.tokens(),
                o.cliArgs().toArray(String[]::new));
        long wall = System.nanoTime() - start;
        if (r.exitCode() != 0) {
            throw new IllegalStateException("llama-mtmd-cli exited with " + r.exitCode() + ":\n" + r.stderrTail());
        }
        Files.writeString(answerFile, new String(r.response(), StandardCharsets.UTF_8));
        String err = r.stderr();
        Matcher prompt = find(PROMPT, err, r);
        Matcher eval = find(EVAL, err, r);
        return new Results()
                // mtmd_cli_context is complete (text model, context, warmup decode, mmproj) when main logs this
                .put("load_ms", stampMs(err, "main: loading model: ", r))
                .put("encode_ms", Double.parseDouble(find(ENCODE, err, r).group(1)))
                .put("prompt_tokens", Double.parseDouble(prompt.group(2)))
                .put("prompt_ms", Double.parseDouble(prompt.group(1)))
                .put("gen_runs", Double.parseDouble(eval.group(2)))
                .put("gen_eval_ms", Double.parseDouble(eval.group(1)))
                // printed once generation is over; the CLI's counterpart of the facade's load+ask+close
                .put("inproc_ms", stampMs(err, "llama_perf_context_print:", r))
                .put("process_wall_ms", wall / 1e6);
    }

    private static Matcher find(Pattern p, String stderr, ReferenceCli.Result r) {
        Matcher m = p.matcher(stderr);
        if (!m.find()) {
            throw new IllegalStateException("llama-mtmd-cli's stderr has no line matching " + p + ":\n"
                    + r.stderrTail());
        }
        return m;
    }

    /** The timestamp, in ms, of the first stderr line containing {@code text}. */
    private static double stampMs(String stderr, String text, ReferenceCli.Result r) {
        int at = stderr.indexOf(text);
        if (at < 0) {
            throw new IllegalStateException("llama-mtmd-cli's stderr has no line with '" + text + "':\n"
                    + r.stderrTail());
        }
        int lineStart = stderr.lastIndexOf('\n', at) + 1;
        Matcher m = STAMP.matcher(stderr);
        if (!m.find(lineStart) || m.start() != lineStart) {
            throw new IllegalStateException("no timestamp on llama-mtmd-cli's line: "
                    + stderr.substring(lineStart, Math.min(stderr.length(), at + text.length())));
        }
        return Integer.parseInt(m.group(1)) * 60_000.0 + Integer.parseInt(m.group(2)) * 1000.0
                + Integer.parseInt(m.group(3)) + Integer.parseInt(m.group(4)) / 1000.0;
    }
}
