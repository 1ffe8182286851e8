package dev.qwenvl.bindings;

import static dev.qwenvl.bindings.qwenvl_h.*;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import dev.qwenvl.natives.NativeLibraries;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * llama.cpp's own Qwen2 tokenizer vectors ({@code models/ggml-vocab-qwen2.gguf.inp/.out}) through the bindings, read
 * and checked as {@code tests/test-tokenizer-0.cpp} does: cases split on {@code "\n__ggml_vocab_test__\n"}, expected
 * ids from the matching stripped {@code .out} line, tokenized with add_special=false and parse_special=false, and
 * detokenized with remove_special=false and unparse_special=true (its {@code common_detokenize}).
 */
class TokenizerVectorsTest {
    private static final byte[] SEPARATOR = "\n__ggml_vocab_test__\n".getBytes(StandardCharsets.UTF_8);

    private static Arena arena;
    private static MemorySegment model;
    private static MemorySegment vocab;

    @BeforeAll
    static void loadVocab() {
        NativeLibraries.load();
        llama_backend_init();
        arena = Arena.ofShared();
        MemorySegment params = llama_model_default_params(arena);
        llama_model_params.vocab_only(params, true);
        Path file = vocabFile();
        model = llama_model_load_from_file(arena.allocateFrom(file.toString()), params);
        assertNotEquals(MemorySegment.NULL, model, "llama_model_load_from_file failed on " + file);
        vocab = llama_model_get_vocab(model);
    }

    @AfterAll
    static void free() {
        if (model != null && !model.equals(MemorySegment.NULL)) {
            llama_model_free(model);
        }
        arena.close();
    }

    static Stream<Arguments> vectors() throws IOException {
        Path file = vocabFile();
        byte[] raw = Files.readAllBytes(Path.of(file + ".inp"));
        List<String> expected = Files.readAllLines(Path.of(file + ".out"), StandardCharsets.UTF_8);
        List<byte[]> inputs = split(raw);
        assertEquals(expected.size(), inputs.size(), "the .inp and .out files hold different numbers of cases");
        List<Arguments> cases = new ArrayList<>();
        for (int i = 0; i < inputs.size(); i++) {
            String line = expected.get(i).strip();
            int[] ids = line.isEmpty() ? new int[0]
                    : Arrays.stream(line.split(" ")).mapToInt(Integer::parseInt).toArray();
            cases.add(Arguments.of(i, inputs.get(i), ids));
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "case {0}")
    @MethodSource("vectors")
    void tokenizesLikeLlamaCppAndDetokenizesBack(int index, byte[] input, int[] expected) {
        try (Arena local = Arena.ofConfined()) {
            int[] ids = tokenize(local, input);
            assertArrayEquals(expected, ids, () -> "case " + index + " '" + new String(input, StandardCharsets.UTF_8)
                    + "'");
            assertArrayEquals(input, detokenize(local, ids), () -> "case " + index + " does not round-trip");
        }
    }

    private static int[] tokenize(Arena local, byte[] text) {
        MemorySegment bytes = local.allocate(Math.max(1, text.length));
        MemorySegment.copy(text, 0, bytes, JAVA_BYTE, 0, text.length);
        int capacity = text.length + 1;
        MemorySegment out = local.allocate(JAVA_INT, capacity);
        int n = llama_tokenize(vocab, bytes, text.length, out, capacity, false, false);
        if (n < 0) { // more tokens than bytes cannot happen for byte-level BPE, but the API asks us to handle it
            capacity = -n;
            out = local.allocate(JAVA_INT, capacity);
            n = llama_tokenize(vocab, bytes, text.length, out, capacity, false, false);
        }
        return out.asSlice(0, (long) n * Integer.BYTES).toArray(JAVA_INT);
    }

    private static byte[] detokenize(Arena local, int[] ids) {
        MemorySegment tokens = local.allocateFrom(JAVA_INT, ids.length == 0 ? new int[1] : ids);
        int capacity = 16 * ids.length + 1;
        MemorySegment text = local.allocate(capacity);
        int n = llama_detokenize(vocab, tokens, ids.length, text, capacity, false, true);
        if (n < 0) {
            capacity = -n;
            text = local.allocate(capacity);
            n = llama_detokenize(vocab, tokens, ids.length, text, capacity, false, true);
        }
        return text.asSlice(0, n).toArray(JAVA_BYTE);
    }

    /** test-tokenizer-0's read_tests: split on the separator; a trailing separator does not start a case. */
    static List<byte[]> split(byte[] raw) {
        List<byte[]> parts = new ArrayList<>();
        int pos = 0;
        while (pos < raw.length) {
            int next = indexOf(raw, SEPARATOR, pos);
            if (next < 0) {
                parts.add(Arrays.copyOfRange(raw, pos, raw.length));
                break;
            }
            parts.add(Arrays.copyOfRange(raw, pos, next));
            pos = next + SEPARATOR.length;
        }
        return parts;
    }

    private static int indexOf(byte[] haystack, byte[] needle, int from) {
        for (int i = from; i <= haystack.length - needle.length; i++) {
            if (Arrays.equals(haystack, i, i + needle.length, needle, 0, needle.length)) {
                return i;
            }
        }
        return -1;
    }

    private static Path vocabFile() {
        String src = System.getProperty("qwenvl.llama.src");
        if (src == null || src.isBlank()) {
            throw new IllegalStateException("system property qwenvl.llama.src must name the llama.cpp source tree");
        }
        return Path.of(src, "models", "ggml-vocab-qwen2.gguf");
    }
}
