package dev.qwenvl.cli;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Runs the shaded {@code qwenvl.jar} (system property {@code qwenvl.cli.jar}) in a fresh JVM, as a user would:
 * {@code java --enable-native-access=ALL-UNNAMED -Dqwenvl.library.path=... -jar qwenvl.jar ARGS}.
 */
final class CliProcess {
    private static final long TIMEOUT_SECONDS = 300;

    /** One run: its exit status, stdout as bytes (answers are compared byte for byte) and stderr as text. */
    record Result(int exitCode, byte[] stdout, String stderr) {
        String out() {
            return new String(stdout, StandardCharsets.UTF_8);
        }

        @Override
        public String toString() {
            return "exit " + exitCode + ", stdout [" + out() + "], stderr [" + stderr + "]";
        }
    }

    private CliProcess() {
    }

    /** Runs with {@code stdin} (may be empty) fed to the process and then closed. */
    static Result run(byte[] stdin, String... args) {
        Process p = start(args);
        CompletableFuture<byte[]> out = drain(p.getInputStream());
        CompletableFuture<byte[]> err = drain(p.getErrorStream());
        try {
            try (var in = p.getOutputStream()) {
                in.write(stdin);
            } catch (IOException e) {
                // the process may exit before reading its stdin (a usage error): its result still tells
            }
            if (!p.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError("qwenvl did not finish within " + TIMEOUT_SECONDS + " s: "
                        + String.join(" ", args));
            }
            return new Result(p.exitValue(), out.join(), new String(err.join(), StandardCharsets.UTF_8));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted", e);
        }
    }

    static Result run(String... args) {
        return run(new byte[0], args);
    }

    /** Starts the CLI; the caller owns the process and its streams. */
    static Process start(String... args) {
        String jar = requireProperty("qwenvl.cli.jar");
        if (!Files.isRegularFile(Path.of(jar))) {
            throw new IllegalStateException(jar + " is missing: these tests run in the integration-test phase, after"
                    + " the package phase shades it");
        }
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
                        .toString(), "--enable-native-access=ALL-UNNAMED",
                "-Dqwenvl.library.path=" + requireProperty("qwenvl.library.path"), "-jar", jar));
        command.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(command);
        builder.environment().keySet().removeIf(k -> k.startsWith("GGML_") || k.startsWith("LLAMA_ARG_"));
        try {
            return builder.start();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start " + command, e);
        }
    }

    static CompletableFuture<byte[]> drain(InputStream stream) {
        return CompletableFuture.supplyAsync(() -> {
            try (stream) {
                ByteArrayOutputStream bytes = new ByteArrayOutputStream();
                stream.transferTo(bytes);
                return bytes.toByteArray();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }, task -> Thread.ofPlatform().daemon().start(task)); // the common pool may have one thread: both drains must run
    }

    private static String requireProperty(String name) {
        String v = System.getProperty(name);
        if (v == null || v.isBlank()) {
            throw new IllegalStateException("system property " + name + " is unset (cli/pom.xml's failsafe"
                    + " configuration sets it)");
        }
        return v;
    }
}
