package dev.qwenvl.cli.hub;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HubFilesTest {

    // The listing of ggml-org/Qwen2.5-VL-3B-Instruct-GGUF, in the Hub's order.
    private static final List<String> QWEN = List.of(
            ".gitattributes", "Qwen2.5-VL-3B-Instruct-Q4_K_M.gguf", "Qwen2.5-VL-3B-Instruct-Q8_0.gguf",
            "Qwen2.5-VL-3B-Instruct-f16.gguf", "README.md", "mmproj-Qwen2.5-VL-3B-Instruct-Q8_0.gguf",
            "mmproj-Qwen2.5-VL-3B-Instruct-f16.gguf");

    @Test
    void defaultPicksQ4KMAndTheF16Projector() {
        HubFiles.Selection s = HubFiles.select(QWEN, HubModelRef.DEFAULT, "test");
        assertEquals(List.of("Qwen2.5-VL-3B-Instruct-Q4_K_M.gguf"), s.model());
        assertEquals("mmproj-Qwen2.5-VL-3B-Instruct-f16.gguf", s.mmproj());
    }

    @Test
    void quantMatchesCaseInsensitively() {
        assertEquals(List.of("Qwen2.5-VL-3B-Instruct-Q8_0.gguf"), HubFiles.selectModel(QWEN, Optional.of("Q8_0")));
        assertEquals(List.of("Qwen2.5-VL-3B-Instruct-f16.gguf"), HubFiles.selectModel(QWEN, Optional.of("F16")));
        assertEquals(List.of("Qwen2.5-VL-3B-Instruct-Q8_0.gguf"),
                HubFiles.selectModel(QWEN, HubModelRef.parse("a/b:q8_0").quant()));
    }

    @Test
    void projectorIsNeverTakenForTheModel() {
        List<String> onlyProjectorQ8 = List.of("m-Q4_K_M.gguf", "mmproj-m-Q8_0.gguf");
        assertEquals(List.of(), HubFiles.selectModel(onlyProjectorQ8, Optional.of("Q8_0")));
        assertEquals(List.of("m-Q4_K_M.gguf"), HubFiles.selectModel(onlyProjectorQ8, Optional.empty()));
    }

    @Test
    void quantMustStartAComponent() {
        List<String> files = List.of("m-IQ4_XS.gguf", "m-Q4_XS.gguf");
        assertEquals(List.of("m-Q4_XS.gguf"), HubFiles.selectModel(files, Optional.of("Q4_XS")));
        assertEquals(List.of("m-IQ4_XS.gguf"), HubFiles.selectModel(files, Optional.of("IQ4_XS")));
        assertEquals(List.of(), HubFiles.selectModel(List.of("m-Q4_K_M.gguf"), Optional.of("Q4_K")));
    }

    @Test
    void withoutQuantFallsBackToQ8ThenTheFirstModel() {
        assertEquals(List.of("m-Q8_0.gguf"), HubFiles.selectModel(List.of("m-F16.gguf", "m-Q8_0.gguf"), Optional.empty()));
        assertEquals(List.of("m-BF16.gguf"), HubFiles.selectModel(List.of("m-F16.gguf", "m-BF16.gguf"), Optional.empty()));
        assertEquals(List.of(), HubFiles.selectModel(List.of("m-F16.gguf"), Optional.of("Q4_K_M")));
    }

    @Test
    void splitModelBringsAllItsPartsFirstPartFirst() {
        List<String> files = List.of("Q4_K_M/m-Q4_K_M-00002-of-00002.gguf", "Q4_K_M/m-Q4_K_M-00001-of-00002.gguf",
                "Q8_0/m-Q8_0-00001-of-00001.gguf", "mmproj-F16.gguf");
        assertEquals(List.of("Q4_K_M/m-Q4_K_M-00001-of-00002.gguf", "Q4_K_M/m-Q4_K_M-00002-of-00002.gguf"),
                HubFiles.selectModel(files, Optional.empty()));
        assertEquals("mmproj-F16.gguf", HubFiles.select(files, HubModelRef.DEFAULT, "test").mmproj());
    }

    @Test
    void projectorPrefersTheModelsDirectoryThenF16ThenMoreBits() {
        assertEquals("sub/mmproj-Q8_0.gguf", HubFiles.selectMmproj(
                List.of("mmproj-F16.gguf", "sub/mmproj-Q8_0.gguf", "other/mmproj-F16.gguf"), "sub/m-Q4_K_M.gguf").orElseThrow());
        assertEquals("mmproj-m-F32.gguf", HubFiles.selectMmproj(
                List.of("mmproj-m-Q8_0.gguf", "mmproj-m-F32.gguf", "mmproj-m-Q4_0.gguf"), "m.gguf").orElseThrow());
        assertEquals("MMPROJ-m-BF16.gguf", HubFiles.selectMmproj(
                List.of("MMPROJ-m-BF16.gguf", "mmproj-m-Q8_0.gguf"), "m.gguf").orElseThrow());
        assertEquals(Optional.empty(), HubFiles.selectMmproj(List.of("m-mmproj.gguf", "other/mmproj.gguf"), "m.gguf"));
    }

    @Test
    void missingProjectorSaysToPassFiles() {
        HubException e = assertThrows(HubException.class,
                () -> HubFiles.select(List.of("m-Q4_K_M.gguf"), HubModelRef.DEFAULT, "repo x"));
        assertEquals(HubException.Reason.NO_MATCHING_FILE, e.reason());
        assertTrue(e.getMessage().contains("no mmproj GGUF beside m-Q4_K_M.gguf in repo x"), e.getMessage());
        assertTrue(e.getMessage().contains("--model FILE --mmproj FILE"), e.getMessage());
    }

    @Test
    void tagIsTheLastComponentBeforeTheExtension() {
        assertEquals("F16", HubFiles.tag("mmproj-Qwen2.5-VL-3B-Instruct-f16.gguf"));
        assertEquals("Q4_K_M", HubFiles.tag("dir/m.Q4_K_M-00001-of-00003.gguf"));
    }
}
