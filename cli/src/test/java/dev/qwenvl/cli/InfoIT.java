package dev.qwenvl.cli;

import dev.qwenvl.testing.ModelPair;
import dev.qwenvl.testing.Spec;
import dev.qwenvl.testing.TestImages;
import dev.qwenvl.testing.TinyModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code qwenvl info} on the tiny fixtures, whose header values the fixture's spec fixes. */
class InfoIT {
    private static final ModelPair PAIR = TinyModels.pair(Spec.tiny(Spec.Projector.QWEN25VL));

    @Test
    void describesATextModel() {
        CliProcess.Result r = CliProcess.run("info", PAIR.text().toString());
        assertEquals(0, r.exitCode(), r::toString);
        String out = r.out();
        assertTrue(out.contains("architecture:     qwen2vl\n"), out);
        assertTrue(out.contains("quantization:     F16 (general.file_type 1)\n"), out);
        assertTrue(out.contains("context length:   4096\n"), out);
        assertTrue(out.contains("embedding length: 64\n"), out);
        assertTrue(out.contains("chat template:    1 line\n    {% for message in messages %}"), out);
    }

    @Test
    void describesAnMmprojAndChecksItFitsTheModel() {
        CliProcess.Result r = CliProcess.run("info", PAIR.mmproj().toString(), "--model", PAIR.text().toString());
        assertEquals(0, r.exitCode(), r::toString);
        String out = r.out();
        assertTrue(out.contains("projector:        qwen2.5vl_merger\n"), out);
        assertTrue(out.contains("patch size:       14\n"), out);
        assertTrue(out.contains("projection dim:   64\n"), out);
        assertTrue(out.contains("fits the model:   yes (projection dim 64, "), out);
    }

    @Test
    void aFileThatIsNotAGgufIsAModelError(@TempDir Path tmp) {
        Path png = TestImages.gradient(tmp.resolve("a.png"), 8, 8);
        CliProcess.Result r = CliProcess.run("info", png.toString());
        assertEquals(ExitCodes.MODEL, r.exitCode(), r::toString);
        assertTrue(r.stderr().startsWith("qwenvl: error: " + png + ": is not a GGUF file"), r::toString);
    }
}
