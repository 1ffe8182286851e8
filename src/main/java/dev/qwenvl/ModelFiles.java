package dev.qwenvl;

import java.nio.file.Path;
import java.util.Set;

/**
 * The Java-side checks of a text GGUF and its mmproj, made before llama.cpp opens either: the files are well-formed
 * GGUFs, the architectures are Qwen2-VL / Qwen2.5-VL text plus clip, the shapes llama.cpp would otherwise assert on are
 * sane, and the mmproj's projection size equals the text model's embedding size.
 */
final class ModelFiles {
    static final String TEXT_ARCH = "qwen2vl";
    static final Set<String> PROJECTORS = Set.of("qwen2vl_merger", "qwen2.5vl_merger");

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
        requireTensor(m, "token_embd.weight", embd);
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
        if (embd % heads != 0 || (embd / heads) % 4 != 0) {
            throw new InvalidModelException(file, "has vision embedding " + embd + " and " + heads + " heads; the head"
                    + " size must be a whole multiple of 4");
        }
        if (projector.equals("qwen2.5vl_merger")) {
            positive(m, "clip.vision.n_wa_pattern");
        }
        if (projection != textEmbedding) {
            throw new InvalidModelException(file, "projects images to " + projection + " dimensions but the text model"
                    + " embeds tokens in " + textEmbedding + "; use the mmproj made for this model");
        }
        requireTensor(m, "v.patch_embd.weight", patch, patch, 3, embd);
        requireTensor(m, "mm.0.weight", 4 * embd, 4 * embd);
        requireTensor(m, "mm.2.weight", 4 * embd, textEmbedding);
        requireTensor(m, "mm.2.bias", textEmbedding);
        for (long b = 0; b < blocks; b++) {
            String p = "v.blk." + b + ".";
            for (String w : new String[]{"attn_q", "attn_k", "attn_v", "attn_out"}) {
                requireTensor(m, p + w + ".weight", embd, embd);
            }
            requireTensor(m, p + "ffn_up.weight", embd, ff);
            requireTensor(m, p + "ffn_down.weight", ff, embd);
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

    /** The tensor must exist and, where expected dimensions are given, have exactly those leading dimensions. */
    private static void requireTensor(GgufMetadata m, String name, long... expected) {
        GgufMetadata.Tensor t = m.tensor(name);
        if (t == null) {
            throw new InvalidModelException(m.file(), "lacks the tensor " + name);
        }
        for (int d = 0; d < expected.length; d++) {
            long actual = d < t.shape().length ? t.shape()[d] : 1;
            if (actual != expected[d]) {
                throw new InvalidModelException(m.file(), "tensor " + name + " has shape "
                        + java.util.Arrays.toString(t.shape()) + " where dimension " + d + " should be " + expected[d]);
            }
        }
    }
}
