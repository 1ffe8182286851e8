package dev.qwenvl.cli;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/**
 * scripts/device-check.sh's dry runs on a machine without an NVIDIA GPU (this one and CI's): it fails at once, naming
 * what is missing, instead of building for minutes or hanging; misuse is refused before any work.
 */
class DeviceCheckScriptTest {
    private static final Path REPO = Path.of(System.getProperty("qwenvl.repo"));

    @Test
    void withoutAnNvidiaGpuItFailsAtOnceSayingSo() throws Exception {
        assumeFalse(onPath("nvidia-smi"), "this machine has nvidia-smi: the dry run is for machines without a GPU");
        Run run = run();
        assertNotEquals(0, run.exitCode, run.stderr);
        assertTrue(run.stderr.contains("error: no nvidia-smi on this machine, so no NVIDIA GPU"), run.stderr);
        assertTrue(run.stderr.contains("device check: FAILED"), run.stderr);
    }

    @Test
    void aMissingBundleAndAnUnknownBackendAreRefusedBeforeAnyWork() throws Exception {
        Run missing = run("--bundle", "/nonexistent/device-bundle.tar.xz");
        assertEquals(1, missing.exitCode, missing.stderr);
        assertEquals("error: no bundle /nonexistent/device-bundle.tar.xz: make one with scripts/device-bundle.sh\n",
                missing.stderr);
        Run vulkan = run("--backend", "vulkan");
        assertEquals(1, vulkan.exitCode, vulkan.stderr);
        assertEquals("error: --backend is cuda or cpu, not vulkan\n", vulkan.stderr);
    }

    private record Run(int exitCode, String stderr) {
    }

    private static Run run(String... args) throws IOException, InterruptedException {
        List<String> command = new java.util.ArrayList<>(List.of("bash", REPO.resolve("scripts/device-check.sh")
                .toString()));
        command.addAll(List.of(args));
        Path stderr = Files.createTempFile("device-check", ".err");
        try {
            Process p = new ProcessBuilder(command).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .redirectError(stderr.toFile()).start();
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError("device-check.sh " + String.join(" ", args) + " ran past 60 s");
            }
            return new Run(p.exitValue(), Files.readString(stderr, StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(stderr);
        }
    }

    private static boolean onPath(String tool) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, tool))) {
                return true;
            }
        }
        return false;
    }
}
