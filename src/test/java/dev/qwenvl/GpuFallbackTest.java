package dev.qwenvl;

import dev.qwenvl.testing.ModelPair;
import dev.qwenvl.testing.ReferenceCli;
import dev.qwenvl.testing.Spec;
import dev.qwenvl.testing.Spec.Projector;
import dev.qwenvl.testing.TestImages;
import dev.qwenvl.testing.TinyModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIf;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Vulkan natives (scripts/build-gpu-natives.sh vulkan) on a machine with no Vulkan device: ggml's Vulkan module
 * brings up nothing, the facade says so in exactly one log line, and the answer is the CPU's, equal to
 * llama-mtmd-cli's. Runs only where those natives were built and the machine has no GPU (no /dev/dri, no /dev/nvidia0).
 */
@EnabledIf("vulkanNativesWithoutDevice")
class GpuFallbackTest {

    @Test
    void vulkanNativesWithoutADeviceFallBackToTheCpuWithOneLogLine(@TempDir Path tmp) throws Exception {
        ModelPair pair = TinyModels.pair(Spec.tiny(Projector.QWEN25VL));
        Path png = TestImages.gradient(tmp.resolve("gradient.png"), 640, 480);
        ReferenceCli.Result cli = ReferenceCli.run(pair, png, NativesChild.PROMPT, NativesChild.TOKENS);
        assertEquals(0, cli.exitCode(), cli::stderrTail);

        NativesChild.Result ours = NativesChild.run(vulkanNatives(), pair, png);
        assertEquals(1, ours.output().lines().filter(l -> l.contains("carry the vulkan backend, but it brought up"
                + " no device")).count(), ours.output());
        assertTrue(ours.backend().startsWith("CPU: CPU ("), ours.output());
        assertEquals(new String(cli.response(), StandardCharsets.UTF_8), ours.answer(),
                "the Vulkan natives' CPU fallback answers differently from llama-mtmd-cli");
    }

    private static Path vulkanNatives() {
        return Path.of(System.getProperty(ReferenceCli.BIN_PROPERTY)).resolveSibling("natives-vulkan")
                .resolve("dev/qwenvl/natives/linux-x86_64-vulkan");
    }

    static boolean vulkanNativesWithoutDevice() {
        return Files.isRegularFile(vulkanNatives().resolve("natives.list"))
                && !Files.isDirectory(Path.of("/dev/dri")) && !Files.exists(Path.of("/dev/nvidia0"));
    }
}
