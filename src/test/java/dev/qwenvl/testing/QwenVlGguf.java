package dev.qwenvl.testing;

import static dev.qwenvl.bindings.qwenvl_h.GGML_TYPE_Q4_K;
import static dev.qwenvl.bindings.qwenvl_h.GGML_TYPE_Q6_K;
import static dev.qwenvl.bindings.qwenvl_h.LLAMA_FTYPE_MOSTLY_Q4_K_M;

import dev.qwenvl.testing.GgufWriter.Fill;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * The keys and tensors of a loadable Qwen2-VL / Qwen2.5-VL pair (notes §3 and §4), with random weights scaled per
 * notes §6: untied {@code output.weight} with std 1, hidden weights with std 2/sqrt(fan_in), unit norms, small biases,
 * F32 for every 1-D tensor and F16 for the rest.
 */
final class QwenVlGguf {
    /** Plain ChatML with no default system prompt (notes §8). */
    static final String CHATML = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n'"
            + " + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
            + "{{ '<|im_start|>assistant\\n' }}{% endif %}";
    private static final String QWEN25VL_TEMPLATE = "/templates/qwen2.5-vl.jinja";
    private static final int FTYPE_MOSTLY_F16 = 1;
    private static final Fill ONES = Fill.constant(1f);
    private static final Fill BIAS = Fill.noise(0.02);
    private static final float[] CLIP_MEAN = {0.48145466f, 0.4578275f, 0.40821073f};
    private static final float[] CLIP_STD = {0.26862954f, 0.26130258f, 0.27577711f};

    private QwenVlGguf() {
    }

    /**
     * Writes the {@code qwen2vl} text model of {@code spec}: F16, or with {@link Spec.Weights#Q4_K_M_DIRECT} the
     * Q4_K / Q6_K blocks llama_model_quantize's Q4_K_M would choose per tensor, written directly.
     */
    static void writeText(Spec spec, Qwen2Vocab vocab, Path file) throws IOException {
        Spec.Text t = spec.text();
        long embd = t.embd();
        long kv = (long) t.headsKv() * t.headDim();
        try (GgufWriter g = new GgufWriter(spec.seed())) {
            g.putString("general.architecture", "qwen2vl");
            g.putString("general.name", "random qwen2vl text, seed " + spec.seed());
            g.putU32("general.file_type", spec.weights() == Spec.Weights.Q4_K_M_DIRECT ? LLAMA_FTYPE_MOSTLY_Q4_K_M()
                    : FTYPE_MOSTLY_F16);
            g.putU32("qwen2vl.context_length", t.contextLength());
            g.putU32("qwen2vl.embedding_length", t.embd());
            g.putU32("qwen2vl.block_count", t.layers());
            g.putU32("qwen2vl.feed_forward_length", t.ff());
            g.putU32("qwen2vl.attention.head_count", t.heads());
            g.putU32("qwen2vl.attention.head_count_kv", t.headsKv());
            g.putF32("qwen2vl.rope.freq_base", 1_000_000f);
            g.putI32s("qwen2vl.rope.dimension_sections", t.ropeSections().stream().mapToInt(Integer::intValue)
                    .toArray());
            g.putF32("qwen2vl.attention.layer_norm_rms_epsilon", 1e-6f); // read by no current loader (notes §3.1)
            vocab.copyInto(g);
            g.putString("tokenizer.chat_template", chatTemplate(spec.template()));

            Matrices w = new Matrices(g, spec.weights() == Spec.Weights.Q4_K_M_DIRECT);
            w.matrix("token_embd.weight", GGML_TYPE_Q4_K(), Fill.noise(1.0), embd, Qwen2Vocab.SIZE);
            g.f32("output_norm.weight", ONES, embd);
            w.matrix("output.weight", GGML_TYPE_Q6_K(), Fill.noise(1.0), embd, Qwen2Vocab.SIZE);
            for (int i = 0; i < t.layers(); i++) {
                String b = "blk." + i + ".";
                int moreBits = moreBits(i, t.layers()) ? GGML_TYPE_Q6_K() : GGML_TYPE_Q4_K();
                g.f32(b + "attn_norm.weight", ONES, embd);
                w.matrix(b + "attn_q.weight", GGML_TYPE_Q4_K(), Fill.weights(embd), embd, embd);
                g.f32(b + "attn_q.bias", BIAS, embd);
                w.matrix(b + "attn_k.weight", GGML_TYPE_Q4_K(), Fill.weights(embd), embd, kv);
                g.f32(b + "attn_k.bias", BIAS, kv);
                w.matrix(b + "attn_v.weight", moreBits, Fill.weights(embd), embd, kv);
                g.f32(b + "attn_v.bias", BIAS, kv);
                w.matrix(b + "attn_output.weight", GGML_TYPE_Q4_K(), Fill.weights(embd), embd, embd);
                g.f32(b + "ffn_norm.weight", ONES, embd);
                w.matrix(b + "ffn_gate.weight", GGML_TYPE_Q4_K(), Fill.weights(embd), embd, t.ff());
                w.matrix(b + "ffn_up.weight", GGML_TYPE_Q4_K(), Fill.weights(embd), embd, t.ff());
                w.matrix(b + "ffn_down.weight", moreBits, Fill.weights(t.ff()), t.ff(), embd);
            }
            g.write(file);
        }
    }

    /** llama-quant.cpp's use_more_bits: the layers whose attn_v and ffn_down Q4_K_M stores as Q6_K. */
    private static boolean moreBits(int layer, int layers) {
        return layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;
    }

    /** Adds 2-D weights as F16, or directly in the given K-quant type. */
    private record Matrices(GgufWriter g, boolean direct) {
        void matrix(String name, int quantType, Fill fill, long... ne) {
            if (direct) {
                g.quantized(name, quantType, fill, ne);
            } else {
                g.f16(name, fill, ne);
            }
        }
    }

    /** Writes the F16 {@code clip} mmproj of {@code spec}, whose merger outputs {@code spec.text().embd()}. */
    static void writeMmproj(Spec spec, Path file) throws IOException {
        Spec.Vision v = spec.vision();
        boolean qwen25 = spec.projector() == Spec.Projector.QWEN25VL;
        long embd = v.embd();
        long merged = 4 * embd; // the graph concatenates 2x2 patches before the merger
        try (GgufWriter g = new GgufWriter(spec.seed())) {
            g.putString("general.architecture", "clip");
            g.putString("general.type", "mmproj");
            g.putString("general.name", "random " + spec.projector().ggufName() + " mmproj, seed " + spec.seed());
            g.putU32("general.file_type", FTYPE_MOSTLY_F16);
            g.putBool("clip.has_vision_encoder", true);
            g.putString("clip.projector_type", spec.projector().ggufName());
            g.putU32("clip.vision.embedding_length", v.embd());
            g.putU32("clip.vision.attention.head_count", v.heads());
            g.putU32("clip.vision.feed_forward_length", v.ff());
            g.putU32("clip.vision.block_count", v.layers());
            g.putU32("clip.vision.projection_dim", spec.text().embd());
            g.putF32("clip.vision.attention.layer_norm_epsilon", 1e-6f);
            g.putU32("clip.vision.image_size", v.imageSize());
            g.putU32("clip.vision.patch_size", v.patchSize());
            g.putF32s("clip.vision.image_mean", CLIP_MEAN);
            g.putF32s("clip.vision.image_std", CLIP_STD);
            g.putU32("clip.vision.spatial_merge_size", 2);
            if (qwen25) {
                g.putBool("clip.use_silu", true);
                g.putU32("clip.vision.n_wa_pattern", v.windowPattern());
            }

            long p = v.patchSize();
            // the Conv3D's two temporal slices; both see the same still image and are summed
            g.f16("v.patch_embd.weight", Fill.weights(p * p * 3), p, p, 3, embd);
            g.f16("v.patch_embd.weight.1", Fill.weights(p * p * 3), p, p, 3, embd);
            for (int i = 0; i < v.layers(); i++) {
                String b = "v.blk." + i + ".";
                for (String proj : new String[] {"attn_q", "attn_k", "attn_v", "attn_out"}) {
                    g.f16(b + proj + ".weight", Fill.weights(embd), embd, embd);
                    g.f32(b + proj + ".bias", BIAS, embd);
                }
                norm(g, b + "ln1", embd, qwen25);
                norm(g, b + "ln2", embd, qwen25);
                if (qwen25) {
                    g.f16(b + "ffn_gate.weight", Fill.weights(embd), embd, v.ff());
                    g.f32(b + "ffn_gate.bias", BIAS, v.ff());
                }
                g.f16(b + "ffn_up.weight", Fill.weights(embd), embd, v.ff());
                g.f32(b + "ffn_up.bias", BIAS, v.ff());
                g.f16(b + "ffn_down.weight", Fill.weights(v.ff()), v.ff(), embd);
                g.f32(b + "ffn_down.bias", BIAS, embd);
            }
            norm(g, "v.post_ln", embd, qwen25);
            g.f16("mm.0.weight", Fill.weights(merged), merged, merged);
            g.f32("mm.0.bias", BIAS, merged);
            g.f16("mm.2.weight", Fill.weights(merged), merged, spec.text().embd());
            g.f32("mm.2.bias", BIAS, spec.text().embd());
            g.write(file);
        }
    }

    /** Qwen2.5-VL's RMSNorm has a weight only; Qwen2-VL's LayerNorm also has a bias. */
    private static void norm(GgufWriter g, String prefix, long embd, boolean rms) {
        g.f32(prefix + ".weight", ONES, embd);
        if (!rms) {
            g.f32(prefix + ".bias", BIAS, embd);
        }
    }

    static String chatTemplate(Spec.Template template) {
        return switch (template) {
            case CHATML -> CHATML;
            case QWEN25VL -> {
                try (InputStream in = QwenVlGguf.class.getResourceAsStream(QWEN25VL_TEMPLATE)) {
                    if (in == null) {
                        throw new IllegalStateException("test resource " + QWEN25VL_TEMPLATE + " is missing");
                    }
                    yield new String(in.readAllBytes(), StandardCharsets.UTF_8);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }
        };
    }
}
