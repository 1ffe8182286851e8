package dev.qwenvl.bindings;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Runs the generator, the C compiler and the probe for the binding tests, failing with their output. */
final class GeneratorProcess {
    private GeneratorProcess() {
    }

    /** A directory named by a system property that Surefire sets (see the root pom). */
    static Path dirProperty(String name) {
        String value = System.getProperty(name);
        if (value == null || value.isBlank()) {
            throw new IllegalStateException("system property " + name + " is not set; run the tests through Maven");
        }
        Path dir = Path.of(value);
        if (!Files.isDirectory(dir)) {
            throw new IllegalStateException("system property " + name + " names " + dir + ", which is not a directory");
        }
        return dir;
    }

    static Path repo() {
        return dirProperty("qwenvl.repo");
    }

    static Path llamaSrc() {
        return dirProperty("qwenvl.llama.src");
    }

    /** The Python that has the Debian clang module, as scripts/generate-bindings.sh picks it. */
    static String python() {
        String env = System.getenv("QWENVL_PYTHON");
        return env != null && !env.isBlank() ? env : "/usr/bin/python3";
    }

    /** Runs command in dir and returns its standard output; throws with the whole output when it fails. */
    static String run(Path dir, List<String> command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        int rc = p.waitFor();
        if (rc != 0) {
            throw new AssertionError(String.join(" ", command) + " exited with " + rc + ":\n" + out);
        }
        return out;
    }
}
