package dev.qwenvl.cli.hub;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HubModelRefTest {

    @Test
    void parsesRepoAndUpperCasesQuant() {
        HubModelRef ref = HubModelRef.parse("ggml-org/Qwen2.5-VL-3B-Instruct-GGUF:q4_k_m");
        assertEquals("ggml-org/Qwen2.5-VL-3B-Instruct-GGUF", ref.repo());
        assertEquals(Optional.of("Q4_K_M"), ref.quant());
        assertEquals("ggml-org/Qwen2.5-VL-3B-Instruct-GGUF:Q4_K_M", ref.toString());
        assertEquals("models--ggml-org--Qwen2.5-VL-3B-Instruct-GGUF", ref.cacheFolderName());
        assertEquals(Optional.empty(), HubModelRef.parse("a/b").quant());
        assertEquals(HubModelRef.DEFAULT, HubModelRef.parse(HubModelRef.DEFAULT_REPO));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "noslash", "a/b/c", "a//b", "../x", "a/..", "-a/b", "a/b-", "a b/c", "a/b:", "a/b:Q4 K",
            "a/b:Q4:K", "a/b:../x"})
    void rejectsMalformedReferences(String text) {
        HubException e = assertThrows(HubException.class, () -> HubModelRef.parse(text));
        assertEquals(HubException.Reason.INVALID_REFERENCE, e.reason());
        assertTrue(e.getMessage().startsWith("invalid "), e.getMessage());
    }

    @Test
    void cacheRootFollowsHuggingFaceHubPrecedence() {
        String home = "/home/u";
        assertEquals(Path.of("/c"), HubCache.defaultRoot(Map.of("HF_HUB_CACHE", "/c", "HF_HOME", "/h"), home));
        assertEquals(Path.of("/old"), HubCache.defaultRoot(Map.of("HUGGINGFACE_HUB_CACHE", "/old", "HF_HOME", "/h"), home));
        assertEquals(Path.of("/h/hub"), HubCache.defaultRoot(Map.of("HF_HOME", "/h", "XDG_CACHE_HOME", "/x"), home));
        assertEquals(Path.of("/x/huggingface/hub"), HubCache.defaultRoot(Map.of("XDG_CACHE_HOME", "/x"), home));
        assertEquals(Path.of("/home/u/.cache/huggingface/hub"), HubCache.defaultRoot(Map.of("HF_HUB_CACHE", ""), home));
    }

    @Test
    void environmentSetsEndpointAndCache() {
        HubClient client = HubClient.builder().environment(Map.of("HF_HOME", "/h", "HF_ENDPOINT", "http://127.0.0.1:1/"), "/u").build();
        assertEquals(Path.of("/h/hub"), client.cacheDir());
        HubException e = assertThrows(HubException.class, () -> HubClient.builder().environment(Map.of("HF_ENDPOINT", "ftp://x"), "/u"));
        assertTrue(e.getMessage().contains("HF_ENDPOINT"), e.getMessage());
    }
}
