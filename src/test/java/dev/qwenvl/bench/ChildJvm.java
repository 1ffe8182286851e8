package dev.qwenvl.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Starts a {@code main} of this package in a fresh JVM with this JVM's class path and native-library settings, so
 * each facade repetition pays what a fresh {@code llama-mtmd-cli} process pays (no JIT or page-cache head start
 * inside the process). Its stderr (the facade's logs) goes to a file; stdout carries {@link Results}.
 */
final class ChildJvm {
    private ChildJvm() {
    }

    /** The child's results, plus {@code process_wall_ms}: from starting the JVM to its exit. */
    static Results run(Class<?> main, Path stderr, List<String> args) {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
                .toString(), "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path")));
        for (String p : List.of("qwenvl.library.path", "qwenvl.native.bin", "qwenvl.llama.src")) {
            if (System.getProperty(p) != null) {
                command.add("-D" + p + "=" + System.getProperty(p));
            }
        }
        command.add(main.getName());
        command.addAll(args);
        ProcessBuilder builder = new ProcessBuilder(command).redirectError(stderr.toFile());
        builder.environment().keySet().removeIf(k -> k.startsWith("LLAMA_ARG_") || k.startsWith("GGML_"));
        try {
            long start = System.nanoTime();
            Process process = builder.start();
            process.getOutputStream().close();
            String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            int rc = process.waitFor();
            long wall = System.nanoTime() - start;
            if (rc != 0) {
                throw new IllegalStateException(main.getSimpleName() + " exited with " + rc + "; its stderr is in "
                        + stderr + ":\n" + tail(stderr));
            }
            return Results.parse(out).put("process_wall_ms", wall / 1e6);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + command, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for " + main.getSimpleName(), e);
        }
    }

    private static String tail(Path file) throws IOException {
        String s = Files.readString(file, StandardCharsets.UTF_8);
        return s.length() <= 4000 ? s : s.substring(s.length() - 4000);
    }
}
