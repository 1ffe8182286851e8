package dev.qwenvl.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs llama.cpp's own {@code llama-mtmd-cli} from the directory named by the system property
 * {@value #BIN_PROPERTY}: the reference the bindings are compared with.
 *
 * <p>Greedy, flash attention off in both contexts, 2 threads: the settings under which output is reproducible
 * (notes §6). Environment variables that would change the CLI's defaults ({@code LLAMA_ARG_*}, {@code MTMD_*},
 * {@code GGML_*}) are removed from the child's environment.
 */
public final class ReferenceCli {
    public static final String BIN_PROPERTY = "qwenvl.native.bin";
    private static final long TIMEOUT_SECONDS = 300;

    /**
     * One run's exit code and output.
     *
     * @param stdout the raw bytes: {@code "\n" + pieces + ("\n" if an end-of-generation token stopped it) + "\n\n"}
     */
    public record Result(int exitCode, byte[] stdout, String stderr) {
        /** The generated pieces: stdout without the CLI's framing newlines (notes §1.3). */
        public byte[] response() {
            int from = stdout.length > 0 && stdout[0] == '\n' ? 1 : 0;
            int to = Math.max(from, stdout.length - 2);
            return Arrays.copyOfRange(stdout, from, to);
        }

        /** The last lines of stderr, for assertion messages. */
        public String stderrTail() {
            return stderr.length() <= 4000 ? stderr : stderr.substring(stderr.length() - 4000);
        }
    }

    private ReferenceCli() {
    }

    /**
     * Runs {@code llama-mtmd-cli -m text --mmproj mmproj --image image -p prompt -n nPredict --temp 0 -fa off -t 2},
     * plus {@code extra} arguments.
     */
    public static Result run(ModelPair pair, Path image, String prompt, int nPredict, String... extra) {
        List<String> args = new ArrayList<>(List.of("-m", pair.text().toString(), "--mmproj", pair.mmproj().toString(),
                "--image", image.toString(), "-p", prompt, "-n", Integer.toString(nPredict), "--temp", "0",
                "-fa", "off", "-t", "2"));
        args.addAll(List.of(extra));
        return exec(args, "", null);
    }

    /**
     * Runs {@code llama-mtmd-cli} with exactly {@code args}, {@code stdin} as its standard input, and, if not null,
     * {@code responseMarker} in MTMD_TEST_RESPONSE_MARKER (the CLI then prints it before each response).
     */
    public static Result exec(List<String> args, String stdin, String responseMarker) {
        String bin = System.getProperty(BIN_PROPERTY);
        if (bin == null || bin.isBlank()) {
            throw new IllegalStateException("system property " + BIN_PROPERTY + " is unset: it must name the"
                    + " directory holding llama-mtmd-cli (native/target/bin after scripts/build-native.sh)");
        }
        Path cli = Path.of(bin, "llama-mtmd-cli");
        if (!Files.isExecutable(cli)) {
            throw new IllegalStateException("no executable llama-mtmd-cli in " + bin);
        }
        List<String> command = new ArrayList<>(List.of(cli.toString()));
        command.addAll(args);
        ProcessBuilder builder = new ProcessBuilder(command);
        builder.environment().keySet().removeIf(k -> k.startsWith("LLAMA_ARG_") || k.startsWith("MTMD_")
                || k.startsWith("GGML_"));
        if (responseMarker != null) {
            builder.environment().put("MTMD_TEST_RESPONSE_MARKER", responseMarker);
        }
        try {
            Path err = Files.createTempFile("llama-mtmd-cli", ".stderr");
            try {
                builder.redirectError(err.toFile());
                Process process = builder.start();
                try (var in = process.getOutputStream()) {
                    in.write(stdin.getBytes(StandardCharsets.UTF_8));
                }
                byte[] out = process.getInputStream().readAllBytes();
                if (!process.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                    throw new IllegalStateException("llama-mtmd-cli did not finish within " + TIMEOUT_SECONDS + " s");
                }
                return new Result(process.exitValue(), out, new String(Files.readAllBytes(err), StandardCharsets.UTF_8));
            } finally {
                Files.deleteIfExists(err);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + command, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while running llama-mtmd-cli", e);
        }
    }

    /**
     * Drives {@code llama-mtmd-cli}'s chat mode: sends {@code setup} lines (such as {@code /image PATH}) and then each
     * message, one at a time, waiting for the previous answer and the next "> " prompt before typing the next line,
     * because the CLI's console echoes input to stdout while its log thread prints answers, and the two would
     * interleave. Returns each answer as printed: the pieces, plus "\n" if an end-of-generation token stopped it.
     */
    public static List<String> chat(List<String> args, List<String> setup, List<String> messages) {
        String marker = "@@qwenvl-response@@";
        String bin = System.getProperty(BIN_PROPERTY);
        List<String> command = new ArrayList<>(List.of(Path.of(bin, "llama-mtmd-cli").toString()));
        command.addAll(args);
        ProcessBuilder builder = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.DISCARD);
        builder.environment().keySet().removeIf(k -> k.startsWith("LLAMA_ARG_") || k.startsWith("MTMD_")
                || k.startsWith("GGML_"));
        builder.environment().put("MTMD_TEST_RESPONSE_MARKER", marker);
        Process process;
        try {
            process = builder.start();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + command, e);
        }
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        Thread reader = Thread.ofPlatform().daemon().start(() -> {
            try (var in = process.getInputStream()) {
                byte[] buf = new byte[8192];
                for (int n; (n = in.read(buf)) > 0; ) {
                    synchronized (out) {
                        out.write(buf, 0, n);
                        out.notifyAll();
                    }
                }
            } catch (IOException ignored) {
                // the process ended
            }
        });
        List<String> answers = new ArrayList<>();
        try (var stdin = process.getOutputStream()) {
            List<String> lines = new ArrayList<>(setup);
            lines.add(messages.get(0));
            type(stdin, lines);
            for (int i = 0; i < messages.size(); i++) {
                String text = awaitAfter(out, marker, i + 1);
                int start = nthIndex(text, marker, i + 1) + marker.length() + 2; // the marker's "\n", eval's "\n"
                answers.add(text.substring(start, text.indexOf("\n> ", start)));
                type(stdin, List.of(i + 1 < messages.size() ? messages.get(i + 1) : "/exit"));
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot talk to llama-mtmd-cli", e);
        } finally {
            try {
                if (!process.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                }
                reader.join(TimeUnit.SECONDS.toMillis(TIMEOUT_SECONDS));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        return answers;
    }

    private static void type(java.io.OutputStream stdin, List<String> lines) throws IOException {
        stdin.write((String.join("\n", lines) + "\n").getBytes(StandardCharsets.UTF_8));
        stdin.flush();
    }

    /** Waits until stdout holds the n-th marker followed by the next "\n> " prompt; returns stdout so far. */
    private static String awaitAfter(java.io.ByteArrayOutputStream out, String marker, int n) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_SECONDS);
        synchronized (out) {
            while (true) {
                String text = out.toString(StandardCharsets.UTF_8);
                int at = nthIndex(text, marker, n);
                if (at >= 0 && text.indexOf("\n> ", at) >= 0) {
                    return text;
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new IllegalStateException("llama-mtmd-cli gave no answer " + n + "; stdout so far: " + text);
                }
                try {
                    out.wait(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted", e);
                }
            }
        }
    }

    private static int nthIndex(String text, String needle, int n) {
        int at = -1;
        for (int i = 0; i < n; i++) {
            at = text.indexOf(needle, at + 1);
            if (at < 0) {
                return -1;
            }
        }
        return at;
    }
}
