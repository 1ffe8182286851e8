package dev.qwenvl.testing;

import static dev.qwenvl.bindings.qwenvl_h.*;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qwenvl.bindings.llama_model_params;
import dev.qwenvl.natives.NativeLibraries;
import dev.qwenvl.testing.Spec.Projector;
import dev.qwenvl.testing.Spec.Template;
import dev.qwenvl.testing.Spec.Weights;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Every generated pair must load and generate varied text in llama.cpp's own CLI, reproducibly. */
class TinyModelsTest {
    private static final String PROMPT = "Describe the image.";
    private static final int N_PREDICT = 16;

    @TempDir
    static Path images;
    private static Path gradient;
    private static Path checkerboard;

    @BeforeAll
    static void setUp() {
        NativeLibraries.load();
        llama_backend_init();
        gradient = TestImages.gradient(images.resolve("gradient.png"), 640, 480);
        checkerboard = TestImages.checkerboard(images.resolve("checkerboard.png"), 640, 480, 40);
    }

    static Stream<Arguments> variants() {
        return Stream.of(Projector.values())
                .flatMap(p -> Stream.of(Weights.values())
                        // direct Q4_K blocks need rows in multiples of 256, which only the 32B dimensions have
                        .filter(w -> w != Weights.Q4_K_M_DIRECT)
                        .map(w -> Arguments.of(p, w)));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("variants")
    void pairGeneratesVariedTextInTheReferenceCli(Projector projector, Weights weights) throws IOException {
        ModelPair pair = TinyModels.pair(Spec.tiny(projector).withWeights(weights));

        ReferenceCli.Result run = ReferenceCli.run(pair, gradient, PROMPT, N_PREDICT, "--no-jinja");

        assertEquals(0, run.exitCode(), run.stderrTail());
        int[] ids = tokenize(pair.text(), run.response(), false);
        long distinct = Arrays.stream(ids).distinct().count();
        assertTrue(distinct >= 4, "expected several distinct tokens, got " + Arrays.toString(ids) + " from '"
                + new String(run.response(), StandardCharsets.UTF_8) + "'");
    }

    @Test
    void differentImagesGiveDifferentOutputs() {
        ModelPair pair = TinyModels.pair(Spec.tiny(Projector.QWEN25VL));

        ReferenceCli.Result a = ReferenceCli.run(pair, gradient, PROMPT, N_PREDICT, "--no-jinja");
        ReferenceCli.Result b = ReferenceCli.run(pair, checkerboard, PROMPT, N_PREDICT, "--no-jinja");
        ReferenceCli.Result again = ReferenceCli.run(pair, gradient, PROMPT, N_PREDICT, "--no-jinja");

        assertEquals(0, a.exitCode(), a.stderrTail());
        assertEquals(0, b.exitCode(), b.stderrTail());
        assertFalse(Arrays.equals(a.stdout(), b.stdout()), "same output for two different images");
        assertArrayEquals(a.stdout(), again.stdout(), "greedy runs on the same image differ");
    }

    @ParameterizedTest
    @MethodSource("determinismSpecs")
    void sameSpecGivesByteIdenticalFiles(Spec spec, @TempDir Path first, @TempDir Path second) throws IOException {
        ModelPair a = TinyModels.pair(spec, first);
        ModelPair b = TinyModels.pair(spec, second);

        assertEquals(-1, Files.mismatch(a.text(), b.text()), "text models differ");
        assertEquals(-1, Files.mismatch(a.mmproj(), b.mmproj()), "mmproj files differ");
    }

    static Stream<Spec> determinismSpecs() {
        return Stream.of(Spec.tiny(Projector.QWEN25VL), Spec.tiny(Projector.QWEN2VL).withWeights(Weights.Q4_K_M));
    }

    @Test
    void seedChangesTheWeights(@TempDir Path dir) throws IOException {
        ModelPair a = TinyModels.pair(Spec.tiny(Projector.QWEN25VL), dir);
        ModelPair b = TinyModels.pair(Spec.tiny(Projector.QWEN25VL).withSeed(7), dir);

        assertNotEquals(a.text(), b.text());
        assertNotEquals(-1, Files.mismatch(a.text(), b.text()));
        assertNotEquals(-1, Files.mismatch(a.mmproj(), b.mmproj()));
    }

    @Test
    void textModelHasQwen25VlSpecialTokensAndChatMl() {
        ModelPair pair = TinyModels.pair(Spec.tiny(Projector.QWEN25VL));

        int[] ids = tokenize(pair.text(), "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|><|im_end|>"
                .getBytes(StandardCharsets.UTF_8), true);

        assertArrayEquals(new int[] {151644, 872, 198, 151652, 151655, 151653, 151645}, ids);
        assertEquals(QwenVlGguf.CHATML, chatTemplate(pair.text()));
    }

    @Test
    void realQwenTemplateIsStoredVerbatimAndRunsUnderJinja() throws IOException {
        ModelPair pair = TinyModels.pair(Spec.tiny(Projector.QWEN25VL).withTemplate(Template.QWEN25VL));
        Path published = Path.of(System.getProperty("qwenvl.repo"), "src/test/resources/templates/qwen2.5-vl.jinja");

        assertEquals(Files.readString(published), chatTemplate(pair.text()));
        ReferenceCli.Result run = ReferenceCli.run(pair, gradient, PROMPT, 4, "--jinja");
        assertEquals(0, run.exitCode(), run.stderrTail());
    }

    /** Loads only the vocabulary of {@code model}, then tokenizes {@code text} without adding BOS. */
    private static int[] tokenize(Path model, byte[] text, boolean parseSpecial) {
        return withVocab(model, (arena, m) -> {
            MemorySegment vocab = llama_model_get_vocab(m);
            MemorySegment bytes = arena.allocate(Math.max(1, text.length));
            bytes.copyFrom(MemorySegment.ofArray(text));
            int capacity = text.length + 8;
            MemorySegment out = arena.allocate(JAVA_INT, capacity);
            int n = llama_tokenize(vocab, bytes, text.length, out, capacity, false, parseSpecial);
            assertTrue(n >= 0, "llama_tokenize needs " + -n + " slots");
            return out.asSlice(0, (long) n * Integer.BYTES).toArray(JAVA_INT);
        });
    }

    private static String chatTemplate(Path model) {
        return withVocab(model, (arena, m) -> {
            MemorySegment tmpl = llama_model_chat_template(m, MemorySegment.NULL);
            assertNotEquals(MemorySegment.NULL, tmpl, "no tokenizer.chat_template in " + model);
            return tmpl.reinterpret(Long.MAX_VALUE).getString(0);
        });
    }

    private interface VocabUse<T> {
        T apply(Arena arena, MemorySegment model);
    }

    private static <T> T withVocab(Path path, VocabUse<T> use) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment params = llama_model_default_params(arena);
            llama_model_params.vocab_only(params, true);
            MemorySegment model = llama_model_load_from_file(arena.allocateFrom(path.toString()), params);
            assertNotEquals(MemorySegment.NULL, model, "llama_model_load_from_file failed on " + path);
            try {
                return use.apply(arena, model);
            } finally {
                llama_model_free(model);
            }
        }
    }
}
