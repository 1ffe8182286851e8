package dev.qwenvl;

import dev.qwenvl.bindings.llama_logit_bias;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

import static dev.qwenvl.bindings.qwenvl_h.C_POINTER;
import static dev.qwenvl.bindings.qwenvl_h.LLAMA_MODEL_META_KEY_SAMPLING_MIN_P;
import static dev.qwenvl.bindings.qwenvl_h.LLAMA_MODEL_META_KEY_SAMPLING_PENALTY_LAST_N;
import static dev.qwenvl.bindings.qwenvl_h.LLAMA_MODEL_META_KEY_SAMPLING_PENALTY_REPEAT;
import static dev.qwenvl.bindings.qwenvl_h.LLAMA_MODEL_META_KEY_SAMPLING_SEQUENCE;
import static dev.qwenvl.bindings.qwenvl_h.LLAMA_MODEL_META_KEY_SAMPLING_TEMP;
import static dev.qwenvl.bindings.qwenvl_h.LLAMA_MODEL_META_KEY_SAMPLING_TOP_K;
import static dev.qwenvl.bindings.qwenvl_h.LLAMA_MODEL_META_KEY_SAMPLING_TOP_P;
import static dev.qwenvl.bindings.qwenvl_h.LLAMA_MODEL_META_KEY_SAMPLING_XTC_PROBABILITY;
import static dev.qwenvl.bindings.qwenvl_h.LLAMA_MODEL_META_KEY_SAMPLING_XTC_THRESHOLD;
import static dev.qwenvl.bindings.qwenvl_h.llama_model_meta_key_str;
import static dev.qwenvl.bindings.qwenvl_h.llama_model_meta_val_str;
import static dev.qwenvl.bindings.qwenvl_h.llama_sampler_chain_add;
import static dev.qwenvl.bindings.qwenvl_h.llama_sampler_chain_default_params;
import static dev.qwenvl.bindings.qwenvl_h.llama_sampler_chain_init;
import static dev.qwenvl.bindings.qwenvl_h.llama_sampler_free;
import static dev.qwenvl.bindings.qwenvl_h.llama_sampler_init_dist;
import static dev.qwenvl.bindings.qwenvl_h.llama_sampler_init_dry;
import static dev.qwenvl.bindings.qwenvl_h.llama_sampler_init_logit_bias;
import static dev.qwenvl.bindings.qwenvl_h.llama_sampler_init_min_p;
import static dev.qwenvl.bindings.qwenvl_h.llama_sampler_init_penalties;
import static dev.qwenvl.bindings.qwenvl_h.llama_sampler_init_temp_ext;
import static dev.qwenvl.bindings.qwenvl_h.llama_sampler_init_top_k;
import static dev.qwenvl.bindings.qwenvl_h.llama_sampler_init_top_n_sigma;
import static dev.qwenvl.bindings.qwenvl_h.llama_sampler_init_top_p;
import static dev.qwenvl.bindings.qwenvl_h.llama_sampler_init_typical;
import static dev.qwenvl.bindings.qwenvl_h.llama_sampler_init_xtc;
import static dev.qwenvl.bindings.qwenvl_h.llama_sampler_sample;
import static dev.qwenvl.bindings.qwenvl_h.llama_vocab_get_suppress_tokens;
import static dev.qwenvl.bindings.qwenvl_h.llama_vocab_n_tokens;

/**
 * llama.cpp's sampler chain built as llama-mtmd-cli's common_sampler builds it (same samplers, order, defaults and
 * {@code general.sampling.*} overrides), so a seeded run draws the same tokens. The default temperature is
 * llama-mtmd-cli's 0.2, not common's 0.8 (common/arg.cpp sets it for LLAMA_EXAMPLE_MTMD).
 */
final class Sampler implements AutoCloseable {
    private static final long DEFAULT_SEED = 0xFFFFFFFFL; // LLAMA_DEFAULT_SEED: a random seed
    private static final List<String> DEFAULT_SEQUENCE =
            List.of("penalties", "dry", "top_n_sigma", "top_k", "typ_p", "top_p", "min_p", "xtc", "temperature");
    private static final String[] DRY_BREAKERS = {"\n", ":", "\"", "*"};

    private final MemorySegment chain;

    private Sampler(MemorySegment chain) {
        this.chain = chain;
    }

    static Sampler create(MemorySegment model, MemorySegment vocab, SamplingOptions o) {
        float temp = (float) o.temperature().orElse(meta(model, LLAMA_MODEL_META_KEY_SAMPLING_TEMP(), 0.20));
        int topK = o.topK().orElse((int) meta(model, LLAMA_MODEL_META_KEY_SAMPLING_TOP_K(), 40));
        float topP = (float) o.topP().orElse(meta(model, LLAMA_MODEL_META_KEY_SAMPLING_TOP_P(), 0.95));
        float minP = (float) o.minP().orElse(meta(model, LLAMA_MODEL_META_KEY_SAMPLING_MIN_P(), 0.05));
        float typP = (float) o.typicalP().orElse(1.0);
        float repeat = (float) o.repeatPenalty().orElse(meta(model, LLAMA_MODEL_META_KEY_SAMPLING_PENALTY_REPEAT(), 1.0));
        int lastN = o.repeatLastN().orElse((int) meta(model, LLAMA_MODEL_META_KEY_SAMPLING_PENALTY_LAST_N(), 64));
        float freq = (float) o.frequencyPenalty().orElse(0);
        float present = (float) o.presencePenalty().orElse(0);
        float xtcP = (float) meta(model, LLAMA_MODEL_META_KEY_SAMPLING_XTC_PROBABILITY(), 0.0);
        float xtcT = (float) meta(model, LLAMA_MODEL_META_KEY_SAMPLING_XTC_THRESHOLD(), 0.10);
        int seed = (int) o.seed().orElse(DEFAULT_SEED);
        int nVocab = llama_vocab_n_tokens(vocab);

        MemorySegment chain;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment params = llama_sampler_chain_default_params(arena);
            chain = llama_sampler_chain_init(params);
        }
        List<MemorySegment> samplers = new ArrayList<>();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment nSuppress = arena.allocate(ValueLayout.JAVA_INT);
            MemorySegment suppress = llama_vocab_get_suppress_tokens(vocab, nSuppress);
            int n = nSuppress.get(ValueLayout.JAVA_INT, 0);
            if (n > 0 && !NativeRuntime.isNull(suppress)) {
                MemorySegment ids = suppress.reinterpret(4L * n);
                MemorySegment biases = llama_logit_bias.allocateArray(n, arena);
                for (int i = 0; i < n; i++) {
                    MemorySegment b = llama_logit_bias.asSlice(biases, i);
                    llama_logit_bias.token(b, ids.getAtIndex(ValueLayout.JAVA_INT, i));
                    llama_logit_bias.bias(b, Float.NEGATIVE_INFINITY);
                }
                samplers.add(llama_sampler_init_logit_bias(nVocab, n, biases));
            }
            for (String name : sequence(model)) {
                switch (name) {
                    case "penalties" -> samplers.add(llama_sampler_init_penalties(nVocab, lastN, repeat, freq, present));
                    case "dry" -> {
                        MemorySegment breakers = arena.allocate(C_POINTER, DRY_BREAKERS.length);
                        for (int i = 0; i < DRY_BREAKERS.length; i++) {
                            breakers.setAtIndex(C_POINTER, i, arena.allocateFrom(DRY_BREAKERS[i]));
                        }
                        samplers.add(llama_sampler_init_dry(vocab, 0.0f, 1.75f, 2, 64, breakers, DRY_BREAKERS.length));
                    }
                    case "top_n_sigma" -> samplers.add(llama_sampler_init_top_n_sigma(-1.0f));
                    case "top_k" -> samplers.add(llama_sampler_init_top_k(topK));
                    case "typ_p" -> samplers.add(llama_sampler_init_typical(typP, 0));
                    case "top_p" -> samplers.add(llama_sampler_init_top_p(topP, 0));
                    case "min_p" -> samplers.add(llama_sampler_init_min_p(minP, 0));
                    case "xtc" -> samplers.add(llama_sampler_init_xtc(xtcP, xtcT, 0, seed));
                    case "temperature" -> samplers.add(llama_sampler_init_temp_ext(temp, 0.0f, 1.0f));
                    default -> { } // a sampler llama-mtmd-cli would not add either
                }
            }
        }
        samplers.add(llama_sampler_init_dist(seed));
        for (MemorySegment s : samplers) {
            llama_sampler_chain_add(chain, s);
        }
        return new Sampler(chain);
    }

    /**
     * Samples from the logits of output {@code idx} of ctx's last decode (-1: its last output) and accepts the token,
     * as common_sampler_sample + accept do.
     */
    int sample(MemorySegment ctx, int idx) {
        return llama_sampler_sample(chain, ctx, idx);
    }

    @Override
    public void close() {
        llama_sampler_free(chain);
    }

    private static List<String> sequence(MemorySegment model) {
        String seq = metaString(model, LLAMA_MODEL_META_KEY_SAMPLING_SEQUENCE(), 512);
        if (seq == null || seq.isBlank()) {
            return DEFAULT_SEQUENCE;
        }
        List<String> names = new ArrayList<>();
        for (String n : seq.split(";")) {
            names.add(switch (n.strip()) {
                case "typical_p", "typical", "typ" -> "typ_p";
                case "top-k" -> "top_k";
                case "top-p", "nucleus" -> "top_p";
                case "min-p" -> "min_p";
                case "temp" -> "temperature";
                default -> n.strip();
            });
        }
        return names;
    }

    /** A numeric general.sampling.* value of the model, parsed like strtof/strtol, or the fallback. */
    private static double meta(MemorySegment model, int key, double fallback) {
        String v = metaString(model, key, 128);
        if (v == null) {
            return fallback;
        }
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("^\\s*[-+]?(\\d+\\.?\\d*|\\.\\d+)([eE][-+]?\\d+)?")
                .matcher(v);
        return m.find() ? Double.parseDouble(m.group().strip()) : fallback;
    }

    private static String metaString(MemorySegment model, int key, int max) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(max);
            int n = llama_model_meta_val_str(model, llama_model_meta_key_str(key), buf, max);
            return n > 0 ? buf.getString(0) : null;
        }
    }
}
