package dev.qwenvl.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.io.TempDir;

/**
 * The benchmark's Qwen2.5-VL-3B-sized pair loads and runs in the reference CLI. About 10 GB of disk while it is made
 * and minutes of CPU, so it runs only with {@code -Dqwenvl.realistic=true}.
 */
@EnabledIfSystemProperty(named = "qwenvl.realistic", matches = "true")
class RealisticModelTest {
    @Test
    void realistic3BPairRunsInTheReferenceCli(@TempDir Path images) {
        ModelPair pair = TinyModels.pair(Spec.realistic3B());
        Path image = TestImages.gradient(images.resolve("gradient.png"), 640, 480);

        ReferenceCli.Result run = ReferenceCli.run(pair, image, "Describe the image.", 4, "--no-jinja", "-c", "4096");

        assertEquals(0, run.exitCode(), run.stderrTail());
        assertTrue(run.response().length > 0, "no text generated");
    }
}
