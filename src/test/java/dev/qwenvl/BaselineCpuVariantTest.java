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

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The portable natives' baseline x86-64 CPU variant works on its own: a directory holding only libggml-cpu-x64.so
 * (and the non-CPU libraries) loads in a fresh JVM, ggml maps that variant and no other, and the greedy answer on the
 * tiny pair equals llama-mtmd-cli's from the full build (which picks the best variant for this CPU).
 */
@EnabledIf("portableX86Natives")
class BaselineCpuVariantTest {
    private static final String BASELINE = "libggml-cpu-x64.so";

    @Test
    void baselineVariantAloneGivesTheFullBuildsGreedyAnswer(@TempDir Path tmp) throws Exception {
        Path bin = Path.of(System.getProperty(ReferenceCli.BIN_PROPERTY));
        Path stage = Files.createDirectory(tmp.resolve("natives"));
        List<String> kept = new ArrayList<>();
        for (String line : Files.readAllLines(bin.resolve("natives.list"))) {
            String name = line.strip().replaceFirst("^module:", "");
            if (!name.isEmpty() && (!name.startsWith("libggml-cpu-") || name.equals(BASELINE))) {
                Files.copy(bin.resolve(name), stage.resolve(name));
                kept.add(line.strip());
            }
        }
        Files.write(stage.resolve("natives.list"), kept);
        assertTrue(kept.contains("module:" + BASELINE), "the full build ships " + BASELINE + ": " + kept);

        ModelPair pair = TinyModels.pair(Spec.tiny(Projector.QWEN25VL));
        Path png = TestImages.gradient(tmp.resolve("gradient.png"), 640, 480);
        ReferenceCli.Result cli = ReferenceCli.run(pair, png, NativesChild.PROMPT, NativesChild.TOKENS);
        assertEquals(0, cli.exitCode(), cli::stderrTail);

        NativesChild.Result ours = NativesChild.run(stage, pair, png);
        assertEquals(List.of(BASELINE), ours.mappedVariants(), "ggml must have loaded the baseline variant alone");
        assertEquals(new String(cli.response(), StandardCharsets.UTF_8), ours.answer(),
                "greedy answer on " + BASELINE + " alone differs from llama-mtmd-cli's on the full build");
    }

    static boolean portableX86Natives() throws IOException {
        Path list = Path.of(System.getProperty(ReferenceCli.BIN_PROPERTY, ""), "natives.list");
        return System.getProperty("os.name").startsWith("Linux") && Files.isRegularFile(list)
                && Files.readAllLines(list).contains("module:" + BASELINE);
    }
}
