package dev.qwenvl;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.Set;

import static dev.qwenvl.GgufMetadata.TYPE_ARRAY;
import static dev.qwenvl.GgufMetadata.TYPE_BOOL;
import static dev.qwenvl.GgufMetadata.TYPE_F32;
import static dev.qwenvl.GgufMetadata.TYPE_I32;
import static dev.qwenvl.GgufMetadata.TYPE_STRING;
import static dev.qwenvl.GgufMetadata.TYPE_U32;

/**
 * The Java-side checks of a text GGUF and its mmproj, made before llama.cpp opens either: the files are well-formed
 * GGUFs, the architectures are Qwen2-VL / Qwen2.5-VL text plus clip, the shapes llama.cpp would otherwise assert on are
 * sane, and the mmproj's projection size equals the text model's embedding size.
 */
final class ModelFiles {
    static final String TEXT_ARCH = "qwen2vl";
    static final Set<String> PROJECTORS = Set.of("qwen2vl_merger", "qwen2.5vl_merger");
    /** The keys clip.cpp reads with gguf_get_val_* for a vision projector, each of which abort()s on another type. */
    private static final Map<String, Integer> CLIP_KEY_TYPES = Map.ofEntries(
            Map.entry("general.name", TYPE_STRING), Map.entry("general.description", TYPE_STRING),
            Map.entry("clip.projector_type", TYPE_STRING), Map.entry("clip.vision.projector_type", TYPE_STRING),
            Map.entry("clip.vision.mm_patch_merge_type", TYPE_STRING),
            Map.entry("clip.has_vision_encoder", TYPE_BOOL), Map.entry("clip.has_audio_encoder", TYPE_BOOL),
            Map.entry("clip.has_gen_audio_encoder", TYPE_BOOL), Map.entry("clip.use_gelu", TYPE_BOOL),
            Map.entry("clip.use_silu", TYPE_BOOL),
            Map.entry("clip.vision.embedding_length", TYPE_U32), Map.entry("clip.vision.attention.head_count", TYPE_U32),
            Map.entry("clip.vision.attention.head_dim", TYPE_U32),
            Map.entry("clip.vision.attention.head_count_kv", TYPE_U32),
            Map.entry("clip.vision.feed_forward_length", TYPE_U32), Map.entry("clip.vision.block_count", TYPE_U32),
            Map.entry("clip.vision.projection_dim", TYPE_U32), Map.entry("clip.vision.image_size", TYPE_U32),
            Map.entry("clip.vision.patch_size", TYPE_U32), Map.entry("clip.minicpmv_query_num", TYPE_U32),
            Map.entry("clip.vision.spatial_merge_size", TYPE_U32), Map.entry("clip.vision.n_wa_pattern", TYPE_U32),
            Map.entry("clip.minicpmv_version", TYPE_I32),
            Map.entry("clip.vision.attention.layer_norm_epsilon", TYPE_F32));
    /** Keys the text checks read; llama.cpp refuses other types for them, so say so in Java with the file's name. */
    private static final Map<String, Integer> TEXT_KEY_TYPES = Map.of(
            "qwen2vl.embedding_length", TYPE_U32, "qwen2vl.attention.head_count", TYPE_U32,
            "qwen2vl.attention.head_count_kv", TYPE_U32, "qwen2vl.block_count", TYPE_U32,
            "qwen2vl.context_length", TYPE_U32, "qwen2vl.rope.dimension_count", TYPE_U32,
            "qwen2vl.rope.dimension_sections", TYPE_ARRAY, "tokenizer.chat_template", TYPE_STRING,
            "tokenizer.ggml.tokens", TYPE_ARRAY);
    /** Special token ids llama.cpp looks up in the vocabulary (an id past its end is read out of bounds). */
    private static final String[] TOKEN_ID_KEYS = {"bos", "eos", "eot", "eom", "unknown", "separator", "padding",
            "mask", "cls", "fim_pre", "fim_suf", "fim_mid", "fim_pad", "fim_rep", "fim_sep"};

    private ModelFiles() {
    }

    /** The text model's metadata after its checks. */
    static GgufMetadata checkText(Path file) {
        GgufMetadata m = GgufMetadata.read(file, NativeRuntime.ggmlTypes());
        String arch = m.string("general.architecture");
        if ("clip".equals(arch)) {
            throw new InvalidModelException(file, "is an mmproj (vision projector), not a text model; pass it as the"
                    + " mmproj and the Qwen2-VL/Qwen2.5-VL text GGUF as the model");
        }
        if (!TEXT_ARCH.equals(arch)) {
            throw new InvalidModelException(file, "has architecture " + (arch == null ? "(none)" : "'" + arch + "'")
                    + "; qwenvl runs Qwen2-VL and Qwen2.5-VL text models (architecture 'qwen2vl')");
        }
        TEXT_KEY_TYPES.forEach(m::checkType);
        long embd = positive(m, "qwen2vl.embedding_length");
        long heads = positive(m, "qwen2vl.attention.head_count");
        positive(m, "qwen2vl.block_count");
        positive(m, "qwen2vl.context_length");
        Long kvHeads = m.unsigned("qwen2vl.attention.head_count_kv");
        if (embd % heads != 0 || (kvHeads != null && (kvHeads == 0 || heads % kvHeads != 0))) {
            throw new InvalidModelException(file, "has embedding length " + embd + " and " + heads + " heads ("
                    + kvHeads + " KV heads), which do not divide evenly");
        }
        long headDim = embd / heads;
        Long rot = m.unsigned("qwen2vl.rope.dimension_count");
        if (rot != null && rot != headDim) {
            throw new InvalidModelException(file, "has rope.dimension_count " + rot + " but head size " + headDim
                    + "; llama.cpp requires them equal");
        }
        long[] sections = m.longs("qwen2vl.rope.dimension_sections");
        if (sections == null || sections.length != 4) {
            throw new InvalidModelException(file, "needs qwen2vl.rope.dimension_sections, an array of 4 integers");
        }
        long sum = 0;
        for (long s : sections) {
            if (s < 0) {
                throw new InvalidModelException(file, "has a negative rope dimension section");
            }
            sum += s;
        }
        if (sum == 0 || sum > headDim / 2) {
            throw new InvalidModelException(file, "has rope dimension sections summing to " + sum + "; they must sum"
                    + " to between 1 and half the head size (" + headDim / 2 + ")");
        }
        long vocab = m.arrayLength("tokenizer.ggml.tokens");
        requireTensor(m, "token_embd.weight", embd, vocab > 0 ? vocab : -1);
        for (String id : TOKEN_ID_KEYS) {
            String key = "tokenizer.ggml." + id + "_token_id";
            Long token = m.has(key) ? m.requireUnsigned(key) : null;
            if (token != null && vocab >= 0 && token >= vocab && token != 0xFFFFFFFFL) { // -1 as u32 means "none"
                throw new InvalidModelException(file, "key " + key + " is " + token + ", past the end of the "
                        + vocab + "-token vocabulary");
            }
        }
        return m;
    }

    /** The mmproj's metadata after its checks, including that it projects into textEmbedding dimensions. */
    static GgufMetadata checkMmproj(Path file, long textEmbedding) {
        GgufMetadata m = GgufMetadata.read(file, NativeRuntime.ggmlTypes());
        String arch = m.string("general.architecture");
        if (TEXT_ARCH.equals(arch) || m.has("qwen2vl.embedding_length")) {
            throw new InvalidModelException(file, "is a text model, not an mmproj; pass the vision projector GGUF"
                    + " (usually named mmproj-*.gguf) as the mmproj");
        }
        CLIP_KEY_TYPES.forEach(m::checkType);
        if (!m.bool("clip.has_vision_encoder", false)) {
            throw new InvalidModelException(file, "has no vision encoder (clip.has_vision_encoder is not true); it is"
                    + " not a Qwen2-VL/Qwen2.5-VL mmproj");
        }
        String projector = m.string("clip.projector_type");
        if (projector == null || !PROJECTORS.contains(projector)) {
            throw new InvalidModelException(file, "has projector type " + (projector == null ? "(none)" : "'"
                    + projector + "'") + "; qwenvl supports " + String.join(" and ", PROJECTORS.stream().sorted().toList()));
        }
        long embd = positive(m, "clip.vision.embedding_length");
        long heads = positive(m, "clip.vision.attention.head_count");
        long ff = positive(m, "clip.vision.feed_forward_length");
        long blocks = positive(m, "clip.vision.block_count");
        long patch = positive(m, "clip.vision.patch_size");
        positive(m, "clip.vision.image_size");
        long projection = positive(m, "clip.vision.projection_dim");
        if (m.bool("clip.has_audio_encoder", false) || m.bool("clip.has_gen_audio_encoder", false)) {
            throw new InvalidModelException(file, "has an audio encoder; qwenvl takes vision-only Qwen2-VL/Qwen2.5-VL"
                    + " mmproj files");
        }
        if (!m.has("clip.vision.attention.layer_norm_epsilon")) {
            throw new InvalidModelException(file, "required key clip.vision.attention.layer_norm_epsilon is missing");
        }
        if (embd % heads != 0 || (embd / heads) % 4 != 0) {
            throw new InvalidModelException(file, "has vision embedding " + embd + " and " + heads + " heads; the head"
                    + " size must be a whole multiple of 4");
        }
        Long headDim = m.unsigned("clip.vision.attention.head_dim");
        if (headDim != null && headDim != embd / heads) {
            throw new InvalidModelException(file, "has clip.vision.attention.head_dim " + headDim + " but embedding "
                    + embd + " over " + heads + " heads is " + embd / heads);
        }
        Long merge = m.unsigned("clip.vision.spatial_merge_size");
        if (merge != null && merge != 2) { // the Qwen2-VL graph merges 2x2 patches, whatever the key says
            throw new InvalidModelException(file, "has clip.vision.spatial_merge_size " + merge + "; Qwen2-VL and"
                    + " Qwen2.5-VL projectors merge 2x2 patches");
        }
        if (projector.equals("qwen2.5vl_merger")) {
            positive(m, "clip.vision.n_wa_pattern");
        }
        if (projection != textEmbedding) {
            throw new InvalidModelException(file, "projects images to " + projection + " dimensions but the text model"
                    + " embeds tokens in " + textEmbedding + "; use the mmproj made for this model");
        }
        for (GgufMetadata.Tensor t : m.tensors()) {
            // clip applies norms and biases with ggml_mul/ggml_add on F32 activations; the CPU kernels abort() unless
            // the other operand is F32 too (ggml-cpu/binary-ops.cpp), and that happens only when an image is encoded
            if (t.shape().length == 1 && t.type() != 0) {
                throw new InvalidModelException(file, "stores the norm or bias " + t.name() + " as ggml type "
                        + t.type() + "; one-dimensional tensors of an mmproj must be F32");
            }
        }
        requireTensor(m, "v.patch_embd.weight", patch, patch, 3, embd);
        optionalTensor(m, "v.patch_embd.weight.1", patch, patch, 3, embd);
        optionalTensor(m, "v.patch_embd.bias", embd);
        requireTensor(m, "mm.0.weight", 4 * embd, 4 * embd);
        optionalTensor(m, "mm.0.bias", 4 * embd);
        requireTensor(m, "mm.2.weight", 4 * embd, textEmbedding);
        requireTensor(m, "mm.2.bias", textEmbedding);
        for (String norm : new String[]{"v.pre_ln", "v.post_ln"}) {
            optionalTensor(m, norm + ".weight", embd);
            optionalTensor(m, norm + ".bias", embd);
        }
        for (long b = 0; b < blocks; b++) {
            String p = "v.blk." + b + ".";
            for (String w : new String[]{"attn_q", "attn_k", "attn_v", "attn_out"}) {
                requireTensor(m, p + w + ".weight", embd, embd);
                optionalTensor(m, p + w + ".bias", embd);
            }
            for (String norm : new String[]{"ln1", "ln2"}) {
                optionalTensor(m, p + norm + ".weight", embd);
                optionalTensor(m, p + norm + ".bias", embd);
            }
            requireTensor(m, p + "ffn_up.weight", embd, ff);
            optionalTensor(m, p + "ffn_up.bias", ff);
            optionalTensor(m, p + "ffn_gate.weight", embd, ff);
            optionalTensor(m, p + "ffn_gate.bias", ff);
            requireTensor(m, p + "ffn_down.weight", ff, embd);
            optionalTensor(m, p + "ffn_down.bias", embd);
        }
        return m;
    }

    private static long positive(GgufMetadata m, String key) {
        long v = m.requireUnsigned(key);
        if (v == 0 || v > Integer.MAX_VALUE) {
            throw new InvalidModelException(m.file(), "key " + key + " is " + v + "; it must be between 1 and "
                    + Integer.MAX_VALUE);
        }
        return v;
    }

    /** The tensor must exist and have exactly the expected shape (-1: any size in that dimension). */
    private static void requireTensor(GgufMetadata m, String name, long... expected) {
        if (m.tensor(name) == null) {
            throw new InvalidModelException(m.file(), "lacks the tensor " + name);
        }
        optionalTensor(m, name, expected);
    }

    /**
     * Where present, the tensor must have exactly the expected shape, trailing dimensions of 1 aside: clip.cpp does
     * not check shapes, and a wrong one reaches a GGML_ASSERT (abort) when the graph is built.
     */
    private static void optionalTensor(GgufMetadata m, String name, long... expected) {
        GgufMetadata.Tensor t = m.tensor(name);
        if (t == null) {
            return;
        }
        for (int d = 0; d < Math.max(expected.length, t.shape().length); d++) {
            long actual = d < t.shape().length ? t.shape()[d] : 1;
            long want = d < expected.length ? expected[d] : 1;
            if (want >= 0 && actual != want) {
                throw new InvalidModelException(m.file(), "tensor " + name + " has shape "
                        + Arrays.toString(t.shape()) + " where dimension " + d + " should be " + want);
            }
        }
    }
}
