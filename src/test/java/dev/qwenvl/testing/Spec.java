package dev.qwenvl.testing;

import java.util.List;
import java.util.Objects;

/**
 * What {@link TinyModels#pair(Spec)} builds: a random-weight Qwen2-VL / Qwen2.5-VL text model plus its mmproj.
 *
 * <p>Records only, so {@link #toString()} is a complete, stable description; the fixture cache keys on it.
 *
 * <pre>{@code
 * ModelPair pair = TinyModels.pair(Spec.tiny(Spec.Projector.QWEN25VL).withWeights(Spec.Weights.Q8_0));
 * }</pre>
 *
 * @param projector which vision tower and merger the mmproj carries
 * @param weights   the file type of the text model's 2-D weights (the mmproj is always F16)
 * @param seed      seeds every tensor; the same spec gives byte-identical files
 * @param text      the decoder's dimensions
 * @param vision    the vision tower's dimensions; its merger projects to {@code text.embd()}
 * @param template  the {@code tokenizer.chat_template} written into the text model
 */
public record Spec(Projector projector, Weights weights, long seed, Text text, Vision vision, Template template) {

    /** The mmproj's {@code clip.projector_type}. */
    public enum Projector {
        /** {@code qwen2.5vl_merger}: RMSNorm, SwiGLU MLP, windowed attention. */
        QWEN25VL("qwen2.5vl_merger"),
        /** {@code qwen2vl_merger}: LayerNorm, quick-GELU MLP, full attention everywhere. */
        QWEN2VL("qwen2vl_merger");

        private final String ggufName;

        Projector(String ggufName) {
            this.ggufName = ggufName;
        }

        /** The value of {@code clip.projector_type}. */
        public String ggufName() {
            return ggufName;
        }
    }

    /**
     * File type of the text model: Q8_0 and Q4_K_M come from {@code llama_model_quantize} on the F16 model;
     * Q4_K_M_DIRECT has Q4_K_M's per-tensor types written directly as random blocks (no 65 GB F16 for a 32B).
     */
    public enum Weights {
        F16, Q8_0, Q4_K_M, Q4_K_M_DIRECT
    }

    /** The chat template stored in the text model. */
    public enum Template {
        /** Plain ChatML, no default system prompt: jinja and {@code llama_chat_apply_template} agree (notes §8). */
        CHATML,
        /** The template published with Qwen2.5-VL-Instruct, byte for byte; adds a system prompt under jinja. */
        QWEN25VL
    }

    /**
     * Decoder dimensions ({@code qwen2vl.*} keys). The vocabulary is always Qwen2's 151,936 tokens.
     *
     * @param ropeSections M-RoPE sections in rotary pairs (t, h, w, e); they sum to half the head dimension
     */
    public record Text(int embd, int layers, int heads, int headsKv, int ff, int contextLength,
                       List<Integer> ropeSections) {
        public Text {
            ropeSections = List.copyOf(ropeSections);
            if (ropeSections.size() != 4) {
                throw new IllegalArgumentException("rope sections need 4 values (t, h, w, e), got " + ropeSections);
            }
            if (heads <= 0 || embd % heads != 0 || headsKv <= 0 || heads % headsKv != 0) {
                throw new IllegalArgumentException("heads " + heads + " / kv heads " + headsKv
                        + " do not divide embedding " + embd);
            }
            int pairs = ropeSections.stream().mapToInt(Integer::intValue).sum();
            if (pairs != embd / heads / 2) {
                throw new IllegalArgumentException("rope sections " + ropeSections + " sum to " + pairs
                        + ", not half the head dimension " + embd / heads);
            }
        }

        /** Width of one attention head. */
        public int headDim() {
            return embd / heads;
        }
    }

    /**
     * Vision tower dimensions ({@code clip.vision.*} keys).
     *
     * @param windowPattern {@code n_wa_pattern}: layer i uses full attention iff (i+1) % windowPattern == 0
     *                      (Qwen2.5-VL only)
     */
    public record Vision(int embd, int layers, int heads, int ff, int patchSize, int windowPattern, int imageSize) {
        public Vision {
            if (heads <= 0 || embd % heads != 0 || (embd / heads) % 4 != 0) {
                throw new IllegalArgumentException("vision head dimension " + embd + "/" + heads
                        + " must be a whole multiple of 4 (the ViT's 2-D rope uses 4 sections)");
            }
            if (ff == embd) {
                throw new IllegalArgumentException("vision feed-forward width must differ from the embedding "
                        + embd + ": clip swaps ffn_up and ffn_down when they are equal");
            }
        }
    }

    public Spec {
        Objects.requireNonNull(projector, "projector");
        Objects.requireNonNull(weights, "weights");
        Objects.requireNonNull(text, "text");
        Objects.requireNonNull(vision, "vision");
        Objects.requireNonNull(template, "template");
    }

    /** Text 64 wide, 2 layers, 4 heads (2 KV), ff 160; vision 32 wide, 2 layers, 2 heads, ff 48 (notes §3.2, §4.2). */
    public static Spec tiny(Projector projector) {
        return new Spec(projector, Weights.F16, 42,
                new Text(64, 2, 4, 2, 160, 4096, List.of(2, 3, 3, 0)),
                new Vision(32, 2, 2, 48, 14, 2, 560),
                Template.CHATML);
    }

    /** Qwen2.5-VL-3B-Instruct's real dimensions at Q4_K_M (untied output, unlike the real model), for benchmarks. */
    public static Spec realistic3B() {
        return new Spec(Projector.QWEN25VL, Weights.Q4_K_M, 42,
                new Text(2048, 36, 16, 2, 11008, 128000, List.of(16, 24, 24, 0)),
                new Vision(1280, 32, 16, 3420, 14, 8, 560),
                Template.CHATML);
    }

    /**
     * Qwen2.5-VL-32B-Instruct's real dimensions, Q4_K_M written directly (about 19.8 GB text, 1.4 GB mmproj), for
     * benchmarks. Unlike the real model: Qwen2's 151,936-token vocabulary, not the padded 152,064.
     */
    public static Spec realistic32B() {
        return new Spec(Projector.QWEN25VL, Weights.Q4_K_M_DIRECT, 42,
                new Text(5120, 64, 40, 8, 27648, 128000, List.of(16, 24, 24, 0)),
                new Vision(1280, 32, 16, 3456, 14, 8, 560),
                Template.CHATML);
    }

    public Spec withWeights(Weights w) {
        return new Spec(projector, w, seed, text, vision, template);
    }

    public Spec withSeed(long s) {
        return new Spec(projector, weights, s, text, vision, template);
    }

    public Spec withTemplate(Template t) {
        return new Spec(projector, weights, seed, text, vision, t);
    }

    public Spec withProjector(Projector p) {
        return new Spec(p, weights, seed, text, vision, template);
    }
}
