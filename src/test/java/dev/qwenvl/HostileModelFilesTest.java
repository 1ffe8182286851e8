package dev.qwenvl;

import dev.qwenvl.bindings.mtmd_context_params;
import dev.qwenvl.testing.ModelPair;
import dev.qwenvl.testing.Spec;
import dev.qwenvl.testing.TestImages;
import dev.qwenvl.testing.TinyModels;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static dev.qwenvl.HostileGguf.*;
import static dev.qwenvl.bindings.qwenvl_h.llama_model_default_params;
import static dev.qwenvl.bindings.qwenvl_h.llama_model_free;
import static dev.qwenvl.bindings.qwenvl_h.llama_model_load_from_file;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_context_params_default;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_free;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_init_from_file;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A corpus of broken model files, made at test time from the valid tiny pair, loaded through the facade in a child
 * JVM: each must give an {@link InvalidModelException} naming the file and the problem (or a
 * {@link ModelLoadException} where llama.cpp refuses it cleanly), never a crash. Where llama.cpp would abort() or read
 * out of bounds, the Java-side check in {@link ModelFiles}/{@link GgufMetadata} must catch the file first;
 * {@link #nativeProbe()} shows which cases those are by handing every file straight to llama.cpp.
 */
class HostileModelFilesTest {
    private static final String LOADED = "loaded and answered";
    private static Path dir;
    private static ModelPair pair;
    private static final Map<String, Entry> CORPUS = new LinkedHashMap<>();

    /** One broken pair and what loading it must give: an exception type and a fragment of its message, or null. */
    record Entry(String name, Path text, Path mmproj, Class<? extends Throwable> expected, String fragment,
                 Path fault) {
    }

    @BeforeAll
    static void buildCorpus(@TempDir Path tmp) throws IOException {
        dir = tmp;
        pair = TinyModels.pair(Spec.tiny(Spec.Projector.QWEN25VL));
        HostileGguf text = HostileGguf.parse(pair.text());
        HostileGguf mm = HostileGguf.parse(pair.mmproj());
        long[] ts = text.sections();
        long[] ms = mm.sections();
        long mmSize = Files.size(pair.mmproj());

        // whole-file problems
        textBytes("empty-file", new byte[0], "is empty");
        textBytes("not-gguf-text", "this is not a model\n".repeat(20).getBytes(StandardCharsets.UTF_8),
                "is not a GGUF file");
        mmprojBytes("png-as-mmproj", Files.readAllBytes(TestImages.gradient(tmp.resolve("img.png"), 8, 8)),
                "is not a GGUF file");
        add("missing-file", tmp.resolve("nope.gguf"), pair.mmproj(), InvalidModelException.class, "no such file",
                tmp.resolve("nope.gguf"));
        Path directory = Files.createDirectories(tmp.resolve("dir.gguf"));
        add("directory-as-mmproj", pair.text(), directory, InvalidModelException.class, "is a directory", directory);
        textVariant("bad-magic", text.copy().edit(g -> g.magic = 0x58554747), "bad magic");
        mmVariant("version-1", mm.copy().edit(g -> g.version = 1), "GGUF version 1");
        textVariant("version-4", text.copy().edit(g -> g.version = 4), "GGUF version 4");

        // truncated at every section boundary and inside each section
        textTruncated("truncated-10-bytes", 10, "too short");
        textTruncated("truncated-after-fixed-header", ts[0], "truncated");
        textTruncated("truncated-mid-key-values", (ts[0] + ts[1]) / 2, "truncated");
        textTruncated("truncated-after-key-values", ts[1], "truncated");
        mmTruncated("truncated-mid-tensor-infos", (ms[1] + ms[2]) / 2, "truncated");
        mmTruncated("truncated-after-tensor-infos", ms[2], "truncated");
        mmTruncated("truncated-at-data-start", ms[3], "truncated");
        textTruncated("truncated-mid-data", Files.size(pair.text()) / 2, "truncated");
        mmTruncated("truncated-last-byte", mmSize - 1, "truncated");

        // absurd counts, lengths, dimensions and offsets
        textVariant("kv-count-2^64-1", text.copy().edit(g -> g.kvCountOverride = -1L), "key/values");
        mmVariant("kv-count-plus-one", mm.copy().edit(g -> g.kvCountOverride = (long) g.kvs.size() + 1), "");
        textVariant("tensor-count-2^62", text.copy().edit(g -> g.tensorCountOverride = 1L << 62), "tensors");
        mmVariant("tensor-count-plus-one", mm.copy().edit(g -> g.tensorCountOverride = (long) g.tensors.size() + 1),
                "");
        mmVariant("string-length-2^62", mm.copy().set("general.name", STRING,
                concat(u64(1L << 62), "abc".getBytes(StandardCharsets.UTF_8))), "length");
        textVariant("array-count-2^61", text.copy().set("tokenizer.ggml.merges", ARRAY, array(STRING, 1L << 61)),
                "elements");
        mmVariant("tensor-dims-overflow", mm.copy().edit(g -> g.tensor("mm.0.weight").dims =
                new long[]{1L << 32, 1L << 32, 1L << 32, 1}), "overflow");
        mmVariant("tensor-dim-negative", mm.copy().edit(g -> g.tensor("mm.0.weight").dims = new long[]{-128, 128}),
                "negative");
        mmVariant("tensor-5-dims", mm.copy().edit(g -> g.tensor("mm.0.bias").dims = new long[]{128, 1, 1, 1, 1}),
                "dimensions");
        mmVariant("tensor-0-dims", mm.copy().edit(g -> g.tensor("mm.0.bias").dims = new long[0]), "dimensions");
        mmVariant("tensor-type-99", mm.copy().edit(g -> g.tensor("mm.0.weight").type = 99), "ggml type 99");
        mmVariant("tensor-removed-type-4", mm.copy().edit(g -> g.tensor("mm.0.weight").type = 4), "ggml type 4");
        mmVariant("tensor-row-not-block-multiple", mm.copy().edit(g -> g.tensor("mm.0.weight").type = 12),
                "not a multiple");
        mmVariant("tensor-offset-unaligned", mm.copy().edit(g -> g.tensor("mm.0.weight").offset += 1), "aligned");
        mmVariant("tensor-offset-past-end", mm.copy().edit(g -> g.tensor("mm.0.weight").offset = 1L << 40),
                "has offset 1099511627776 but the tensors before it end at");
        mmVariant("tensor-offset-overflow", mm.copy().edit(g -> g.tensor("mm.2.bias").offset = Long.MAX_VALUE & ~63L),
                "has offset 9223372036854775744");
        mmVariant("tensors-overlap", mm.copy().edit(g -> g.tensor("mm.0.weight").offset =
                g.tensor("mm.2.weight").offset), "has offset");
        mmVariant("alignment-48", mm.copy().set("general.alignment", U32, u32(48)), "power of two");
        mmVariant("alignment-0", mm.copy().set("general.alignment", U32, u32(0)), "power of two");
        mmVariant("alignment-as-u64", mm.copy().set("general.alignment", U64, u64(32)),
                "general.alignment must be of GGUF type u32");
        mmVariant("duplicate-key", mm.copy().edit(g -> g.kvs.add(new Kv("clip.vision.block_count", U32, u32(2)))),
                "repeats key");
        mmVariant("duplicate-tensor", mm.copy().edit(g -> g.tensors.add(new TensorInfo("mm.2.bias",
                new long[]{64}, 0, g.tensor("mm.2.bias").offset))), "repeats tensor");
        mmVariant("value-type-13", mm.copy().set("general.name", 13, new byte[8]), "unknown value type");
        mmVariant("string-invalid-utf8", mm.copy().set("general.name", STRING, str(new byte[]{(byte) 0xC3, 'x'})),
                "UTF-8");
        mmVariant("bool-value-2", mm.copy().set("clip.has_vision_encoder", BOOL, new byte[]{2}), "bool");

        // wrong types for keys llama.cpp reads
        textVariant("embedding-length-as-string", text.copy().set("qwen2vl.embedding_length", STRING, str("64")),
                "qwen2vl.embedding_length");
        textVariant("embedding-length-as-u64", text.copy().set("qwen2vl.embedding_length", U64, u64(64)),
                "qwen2vl.embedding_length");
        textVariant("chat-template-as-u32", text.copy().set("tokenizer.chat_template", U32, u32(7)),
                "tokenizer.chat_template");
        mmVariant("projection-dim-as-f32", mm.copy().set("clip.vision.projection_dim", F32, f32(64)),
                "clip.vision.projection_dim");
        mmVariant("has-vision-encoder-as-u8", mm.copy().set("clip.has_vision_encoder", U8, new byte[]{1}),
                "clip.has_vision_encoder");
        mmVariant("layer-norm-eps-as-u32", mm.copy().set("clip.vision.attention.layer_norm_epsilon", U32, u32(1)),
                "layer_norm_epsilon");
        mmVariant("name-as-u32", mm.copy().set("general.name", U32, u32(1)), "general.name");
        mmVariant("use-silu-as-string", mm.copy().set("clip.use_silu", STRING, str("yes")), "clip.use_silu");
        mmVariant("image-mean-as-u32-array", mm.copy().set("clip.vision.image_mean", ARRAY,
                array(U32, 3, u32(1), u32(1), u32(1))), "image_mean");
        mmVariant("image-mean-2-values", mm.copy().set("clip.vision.image_mean", ARRAY,
                array(F32, 2, f32(0.5f), f32(0.5f))), "image_mean");

        expectLoadError("mmproj-image-mean-as-u32-array", "has type 4, expected 6");
        expectLoadError("mmproj-image-mean-2-values", "must have at least 3 elements");

        // values llama.cpp divides by, indexes with or allocates from
        textVariant("block-count-0", text.copy().set("qwen2vl.block_count", U32, u32(0)), "block_count");
        textVariant("head-count-0", text.copy().set("qwen2vl.attention.head_count", U32, u32(0)), "head_count");
        textVariant("head-count-kv-3", text.copy().set("qwen2vl.attention.head_count_kv", U32, u32(3)),
                "divide");
        textVariant("head-count-2^31", text.copy().set("qwen2vl.attention.head_count", U32, u32(1L << 31)),
                "head_count");
        textVariant("embedding-length-65", text.copy().set("qwen2vl.embedding_length", U32, u32(65)), "");
        textVariant("context-length-0", text.copy().set("qwen2vl.context_length", U32, u32(0)), "context_length");
        textVariant("rope-sections-missing", text.copy().remove("qwen2vl.rope.dimension_sections"),
                "dimension_sections");
        textVariant("rope-sections-too-large", text.copy().set("qwen2vl.rope.dimension_sections", ARRAY,
                array(I32, 4, i32(8), i32(8), i32(8), i32(0))), "rope dimension sections");
        textVariant("bos-token-out-of-range", text.copy().set("tokenizer.ggml.bos_token_id", U32, u32(1_000_000_000)),
                "bos_token_id");
        textVariant("eos-token-out-of-range", text.copy().set("tokenizer.ggml.eos_token_id", U32, u32(151936)),
                "eos_token_id");
        textVariant("token-types-short", text.copy().set("tokenizer.ggml.token_type", ARRAY,
                array(I32, 3, i32(1), i32(1), i32(1))), "token_type");
        textVariant("tokenizer-model-unknown", text.copy().set("tokenizer.ggml.model", STRING, str("nonsense")),
                "");
        textVariant("tokens-missing", text.copy().remove("tokenizer.ggml.tokens"), "tokenizer.ggml.tokens");
        expectLoadError("token-types-short", "Index out of array bounds for toktypes");
        expectLoadError("tokenizer-model-unknown", "unknown tokenizer: 'nonsense'");
        expectLoadError("tokens-missing", "cannot find tokenizer vocab");
        mmVariant("patch-size-0", mm.copy().set("clip.vision.patch_size", U32, u32(0)), "patch_size");
        mmVariant("image-size-0", mm.copy().set("clip.vision.image_size", U32, u32(0)), "image_size");
        mmVariant("window-pattern-0", mm.copy().set("clip.vision.n_wa_pattern", U32, u32(0)), "n_wa_pattern");
        mmVariant("spatial-merge-size-0", mm.copy().set("clip.vision.spatial_merge_size", U32, u32(0)),
                "spatial_merge_size");
        mmVariant("spatial-merge-size-3", mm.copy().set("clip.vision.spatial_merge_size", U32, u32(3)),
                "spatial_merge_size");
        mmVariant("vision-head-count-0", mm.copy().set("clip.vision.attention.head_count", U32, u32(0)),
                "head_count");
        mmVariant("vision-head-count-kv-3", mm.copy().set("clip.vision.attention.head_count_kv", U32, u32(3)),
                "");
        expectLoads("mmproj-vision-head-count-kv-3"); // the Qwen vision graph has no grouped-query attention
        mmVariant("vision-block-count-1000", mm.copy().set("clip.vision.block_count", U32, u32(1000)),
                "v.blk.2.");

        // missing or misshapen tensors
        textVariant("missing-token-embd", text.copy().removeTensor("token_embd.weight"), "token_embd.weight");
        textVariant("missing-output-norm", text.copy().removeTensor("output_norm.weight"), "output_norm.weight");
        textVariant("missing-blk-1-ffn-up", text.copy().removeTensor("blk.1.ffn_up.weight"), "blk.1.ffn_up.weight");
        textVariant("attn-q-wrong-shape", text.copy().reshape("blk.0.attn_q.weight", 1, 64, 32),
                "blk.0.attn_q.weight");
        textVariant("token-embd-short-vocabulary", text.copy().reshape("token_embd.weight", 1, 64, 1000),
                "token_embd.weight");
        mmVariant("missing-attn-q-weight", mm.copy().removeTensor("v.blk.1.attn_q.weight"), "v.blk.1.attn_q.weight");
        mmVariant("missing-mm0-weight", mm.copy().removeTensor("mm.0.weight"), "mm.0.weight");
        mmVariant("missing-mm2-bias", mm.copy().removeTensor("mm.2.bias"), "mm.2.bias");
        mmVariant("ln1-wrong-shape", mm.copy().reshape("v.blk.0.ln1.weight", 0, 16), "v.blk.0.ln1.weight");
        mmVariant("ln1-as-matrix", mm.copy().reshape("v.blk.0.ln1.weight", 0, 16, 2), "v.blk.0.ln1.weight");
        mmVariant("ffn-gate-wrong-shape", mm.copy().reshape("v.blk.0.ffn_gate.weight", 1, 32, 40),
                "v.blk.0.ffn_gate.weight");
        mmVariant("ffn-down-transposed", mm.copy().reshape("v.blk.1.ffn_down.weight", 1, 32, 48),
                "v.blk.1.ffn_down.weight");
        mmVariant("patch-embd-1-wrong-shape", mm.copy().reshape("v.patch_embd.weight.1", 1, 7, 7, 3, 32),
                "v.patch_embd.weight.1");
        mmVariant("mm0-bias-wrong-shape", mm.copy().reshape("mm.0.bias", 0, 64), "mm.0.bias");
        mmVariant("attn-bias-as-f16-matrix", mm.copy().reshape("v.blk.0.attn_k.bias", 1, 16, 2),
                "v.blk.0.attn_k.bias");
        mmVariant("ln2-as-q8_0", mm.copy().reshape("v.blk.0.ln2.weight", 8, 32), "v.blk.0.ln2.weight");
        mmVariant("post-ln-as-f16", mm.copy().reshape("v.post_ln.weight", 1, 32), "v.post_ln.weight");

        expectLoadError("missing-output-norm", "tensor 'output_norm.weight' not found");
        expectLoadError("missing-blk-1-ffn-up", "tensor 'blk.1.ffn_up.weight' not found");
        expectLoadError("attn-q-wrong-shape", "tensor 'blk.0.attn_q.weight' has wrong shape");

        // wrong architecture, swapped files, a projector for another model
        textVariant("architecture-llama", text.copy().set("general.architecture", STRING, str("llama")),
                "architecture 'llama'");
        add("text-as-mmproj", pair.text(), pair.text(), InvalidModelException.class, "is a text model",
                pair.text());
        add("mmproj-as-text", pair.mmproj(), pair.mmproj(), InvalidModelException.class, "is an mmproj",
                pair.mmproj());
        add("pair-swapped", pair.mmproj(), pair.text(), InvalidModelException.class, "is an mmproj", pair.mmproj());
        mmVariant("projector-mlp", mm.copy().set("clip.projector_type", STRING, str("mlp")), "projector type 'mlp'");
        mmVariant("projector-qwen3vl", mm.copy().set("clip.projector_type", STRING, str("qwen3vl_merger")),
                "qwen3vl_merger");
        mmVariant("has-audio-encoder", mm.copy().set("clip.has_audio_encoder", BOOL, bool(true)), "audio encoder");
        mmVariant("no-vision-encoder", mm.copy().set("clip.has_vision_encoder", BOOL, bool(false)),
                "no vision encoder");
        mmVariant("projection-for-32-wide-model", mm.copy().set("clip.vision.projection_dim", U32, u32(32))
                .reshape("mm.2.weight", 1, 128, 32).reshape("mm.2.bias", 0, 32), "projects images to 32 dimensions");
    }

    @TestFactory
    Stream<DynamicTest> everyBrokenFileIsATypedError() {
        HostileJvm jvm = new HostileJvm(dir.resolve("facade"), 240);
        Map<String, HostileJvm.Outcome> outcomes = jvm.run("models", List.of(corpusList().toString()),
                List.copyOf(CORPUS.keySet()));
        HostileJvm.report("model-files", "Broken model files through VisionLanguageModel.load", outcomes);
        assertTrue(CORPUS.size() >= 30, "the corpus has " + CORPUS.size() + " files");
        return CORPUS.values().stream().map(e -> DynamicTest.dynamicTest(e.name(), () -> {
            HostileJvm.Outcome o = outcomes.get(e.name());
            if (e.expected() == null) {
                assertEquals(HostileJvm.Outcome.Kind.OK, o.kind(), o.row());
                return;
            }
            assertTrue(o.threw(e.expected()), "expected " + e.expected().getSimpleName() + ", got " + o.row());
            assertTrue(o.detail().contains(e.fragment()), "message lacks '" + e.fragment() + "': " + o.row());
            if (o.threw(InvalidModelException.class)) {
                assertTrue(o.detail().startsWith(e.fault() + ": "), "the message must start with the file at fault "
                        + e.fault() + ": " + o.row());
            }
        }));
    }

    /** Hands every file of the corpus to llama.cpp directly, one per child JVM after a crash; prints the table. */
    @Test
    @EnabledIfSystemProperty(named = "qwenvl.hostile.probeNative", matches = "true")
    void nativeProbe() {
        HostileJvm jvm = new HostileJvm(dir.resolve("native"), 240);
        Map<String, HostileJvm.Outcome> outcomes = jvm.run("models-native", List.of(corpusList().toString()),
                List.copyOf(CORPUS.keySet()));
        HostileJvm.report("native-probe", "Broken model files straight into llama.cpp, no Java checks", outcomes);
    }

    // --- the child side ---

    /** Each corpus entry loaded through the facade; a pair that loads must also answer about an image. */
    static Map<String, HostileChild.Case> facadeCases(List<String> args) throws IOException {
        Path image = TestImages.gradient(Files.createTempFile("hostile", ".png"), 32, 32);
        return cases(args, (text, mmproj) -> () -> {
            try (VisionLanguageModel m = VisionLanguageModel.load(text, mmproj, ModelOptions.defaults()
                    .withThreads(1).withContextSize(512));
                 Conversation c = m.newConversation()) {
                c.ask(Message.of("What is this?", Image.read(image)), SamplingOptions.greedy().withMaxTokens(2));
                return LOADED;
            }
        });
    }

    /** Each corpus entry loaded by llama.cpp and libmtmd directly, without the facade's checks. */
    static Map<String, HostileChild.Case> nativeCases(List<String> args) throws IOException {
        return cases(args, (text, mmproj) -> () -> {
            NativeRuntime.init();
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment model = llama_model_load_from_file(arena.allocateFrom(text.toString()),
                        llama_model_default_params(arena));
                if (model.address() == 0) {
                    return "llama_model_load_from_file returned NULL";
                }
                try {
                    MemorySegment params = mtmd_context_params_default(arena);
                    mtmd_context_params.use_gpu(params, false);
                    mtmd_context_params.n_threads(params, 1);
                    MemorySegment ctx = mtmd_init_from_file(arena.allocateFrom(mmproj.toString()), model, params);
                    if (ctx.address() == 0) {
                        return "mtmd_init_from_file returned NULL";
                    }
                    mtmd_free(ctx);
                    return "both loaded";
                } finally {
                    llama_model_free(model);
                }
            }
        });
    }

    private static Map<String, HostileChild.Case> cases(List<String> args,
                                                         java.util.function.BiFunction<Path, Path, HostileChild.Case> f)
            throws IOException {
        Map<String, HostileChild.Case> cases = new LinkedHashMap<>();
        for (String line : Files.readAllLines(Path.of(args.get(0)))) {
            String[] p = line.split("\t");
            cases.put(p[0], f.apply(Path.of(p[1]), Path.of(p[2])));
        }
        return cases;
    }

    // --- corpus building ---

    private static Path corpusList() {
        List<String> lines = new ArrayList<>();
        CORPUS.values().forEach(e -> lines.add(e.name() + "\t" + e.text() + "\t" + e.mmproj()));
        try {
            return Files.write(dir.resolve("corpus.tsv"), lines);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void add(String name, Path text, Path mmproj, Class<? extends Throwable> expected, String fragment,
                            Path fault) {
        if (CORPUS.put(name, new Entry(name, text, mmproj, expected, fragment, fault)) != null) {
            throw new IllegalArgumentException("duplicate case " + name);
        }
    }

    /** llama.cpp itself refuses this file cleanly, after the Java checks pass it. */
    private static void expectLoadError(String name, String fragment) {
        Entry e = CORPUS.get(name);
        CORPUS.put(name, new Entry(name, e.text(), e.mmproj(), ModelLoadException.class, fragment, e.fault()));
    }

    /** The damage is harmless: the pair loads and answers. */
    private static void expectLoads(String name) {
        Entry e = CORPUS.get(name);
        CORPUS.put(name, new Entry(name, e.text(), e.mmproj(), null, "", e.fault()));
    }

    private static void textBytes(String name, byte[] bytes, String fragment) throws IOException {
        Path file = Files.write(dir.resolve(name + ".gguf"), bytes);
        add(name, file, pair.mmproj(), InvalidModelException.class, fragment, file);
    }

    private static void mmprojBytes(String name, byte[] bytes, String fragment) throws IOException {
        Path file = Files.write(dir.resolve(name + ".gguf"), bytes);
        add("mmproj-" + name, pair.text(), file, InvalidModelException.class, fragment, file);
    }

    private static void textVariant(String name, HostileGguf g, String fragment) {
        Path file = g.write(dir.resolve(name + ".gguf"));
        add(name, file, pair.mmproj(), InvalidModelException.class, fragment, file);
    }

    private static void mmVariant(String name, HostileGguf g, String fragment) {
        Path file = g.write(dir.resolve("mmproj-" + name + ".gguf"));
        add("mmproj-" + name, pair.text(), file, InvalidModelException.class, fragment, file);
    }

    private static void textTruncated(String name, long length, String fragment) throws IOException {
        Path file = truncated(pair.text(), name, length);
        add(name, file, pair.mmproj(), InvalidModelException.class, fragment, file);
    }

    private static void mmTruncated(String name, long length, String fragment) throws IOException {
        Path file = truncated(pair.mmproj(), name, length);
        add("mmproj-" + name, pair.text(), file, InvalidModelException.class, fragment, file);
    }

    private static Path truncated(Path source, String name, long length) throws IOException {
        Path out = dir.resolve(name + ".gguf");
        try (FileChannel src = FileChannel.open(source, StandardOpenOption.READ);
             FileChannel dst = FileChannel.open(out, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            for (long done = 0; done < length; ) {
                done += src.transferTo(done, length - done, dst);
            }
        }
        return out;
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
