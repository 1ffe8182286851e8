package dev.qwenvl;

import dev.qwenvl.bindings.llama_batch;
import dev.qwenvl.bindings.llama_context_params;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.Locale;

import static dev.qwenvl.bindings.qwenvl_h.llama_batch_init;
import static dev.qwenvl.bindings.qwenvl_h.llama_context_default_params;
import static dev.qwenvl.bindings.qwenvl_h.llama_decode;
import static dev.qwenvl.bindings.qwenvl_h.llama_free;
import static dev.qwenvl.bindings.qwenvl_h.llama_get_logits_ith;
import static dev.qwenvl.bindings.qwenvl_h.llama_init_from_model;
import static dev.qwenvl.bindings.qwenvl_h.llama_vocab_n_tokens;

/**
 * Experiment (bench.sh --logits-parity): are a sequence's logits bit-identical when its tokens are decoded in one
 * batch with another sequence's, against decoded alone, under each context setting that might matter (threads,
 * n_ubatch, kv_unified, flash attention)? Both sides decode the same tokens (teacher-forced), so only the batch
 * differs. Prints one line per setting: exact steps of all, and the largest absolute difference.
 */
public final class LogitsParity {
    private static final int PROMPT = 24;
    private static final int STEPS = 12;

    private record Setting(String name, int threads, int ubatch, boolean unified, int flash) {
    }

    private LogitsParity() {
    }

    public static void main(String[] args) {
        Path text = Path.of(args[0]);
        Path mmproj = Path.of(args[1]);
        Setting[] settings = {
                new Setting("default (2 threads, ubatch 512, kv_unified off, flash off)", 2, 512, false, 0),
                new Setting("1 thread", 1, 512, false, 0),
                new Setting("ubatch 1", 2, 1, false, 0),
                new Setting("flash attention on", 2, 512, false, 1),
                new Setting("kv_unified on", 2, 512, true, 0),
                new Setting("kv_unified on, flash attention on", 2, 512, true, 1),
                new Setting("1 thread, kv_unified on, flash attention on", 1, 512, true, 1),
                new Setting("ubatch 1, kv_unified on, flash attention on", 2, 1, true, 1),
                new Setting("1 thread, ubatch 1, kv_unified on, flash attention on", 1, 1, true, 1),
        };
        try (VisionLanguageModel model = VisionLanguageModel.load(text, mmproj, ModelOptions.defaults()
                .withThreads(2).withContextSize(256))) {
            int vocab = llama_vocab_n_tokens(model.vocab());
            for (Setting s : settings) {
                float[][] solo = run(model, s, vocab, false);
                float[][] batched = run(model, s, vocab, true);
                int exact = 0;
                double maxDiff = 0;
                for (int step = 0; step < STEPS; step++) {
                    boolean same = true;
                    for (int v = 0; v < vocab; v++) {
                        same &= Float.floatToRawIntBits(solo[step][v]) == Float.floatToRawIntBits(batched[step][v]);
                        maxDiff = Math.max(maxDiff, Math.abs(solo[step][v] - batched[step][v]));
                    }
                    exact += same ? 1 : 0;
                }
                System.out.printf(Locale.ROOT, "| %s | %d/%d | %.3g |%n", s.name(), exact, STEPS, maxDiff);
            }
        }
    }

    /** Sequence 0's logits at each generated step: alone, or beside sequence 1 decoding other tokens. */
    private static float[][] run(VisionLanguageModel model, Setting s, int vocab, boolean beside) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment params = llama_context_default_params(arena);
            llama_context_params.n_ctx(params, 2 * 128);
            llama_context_params.n_batch(params, 512);
            llama_context_params.n_ubatch(params, s.ubatch());
            llama_context_params.n_seq_max(params, 2);
            llama_context_params.kv_unified(params, s.unified());
            llama_context_params.n_threads(params, s.threads());
            llama_context_params.n_threads_batch(params, s.threads());
            llama_context_params.flash_attn_type(params, s.flash());
            MemorySegment ctx = llama_init_from_model(model.model(), params);
            try {
                MemorySegment batch = llama_batch_init(arena, 512, 0, 1);
                int n = 0;
                for (int i = 0; i < PROMPT; i++) {
                    n = add(batch, n, token(vocab, 0, i), i, 0, i == PROMPT - 1);
                    if (beside) {
                        n = add(batch, n, token(vocab, 1, i), i, 1, i == PROMPT - 1);
                    }
                }
                decode(ctx, batch, n);
                float[][] out = new float[STEPS][];
                for (int step = 0; step < STEPS; step++) {
                    n = add(batch, 0, token(vocab, 0, PROMPT + step), PROMPT + step, 0, true);
                    if (beside) {
                        n = add(batch, n, token(vocab, 1, PROMPT + step), PROMPT + step, 1, true);
                    }
                    decode(ctx, batch, n);
                    out[step] = llama_get_logits_ith(ctx, 0).reinterpret(4L * vocab).toArray(ValueLayout.JAVA_FLOAT);
                }
                return out;
            } finally {
                llama_free(ctx);
            }
        }
    }

    /** A fixed pseudo-random token for sequence {@code seq} at position {@code pos}. */
    private static int token(int vocab, int seq, int pos) {
        return (int) Math.floorMod((pos + 1) * 2654435761L + seq * 40503L, Math.min(vocab, 150000));
    }

    private static int add(MemorySegment batch, int n, int token, int pos, int seq, boolean logits) {
        llama_batch.token(batch).setAtIndex(ValueLayout.JAVA_INT, n, token);
        llama_batch.pos(batch).setAtIndex(ValueLayout.JAVA_INT, n, pos);
        llama_batch.n_seq_id(batch).setAtIndex(ValueLayout.JAVA_INT, n, 1);
        llama_batch.seq_id(batch).getAtIndex(ValueLayout.ADDRESS, n).reinterpret(4).set(ValueLayout.JAVA_INT, 0, seq);
        llama_batch.logits(batch).setAtIndex(ValueLayout.JAVA_BYTE, n, (byte) (logits ? 1 : 0));
        return n + 1;
    }

    private static void decode(MemorySegment ctx, MemorySegment batch, int n) {
        llama_batch.n_tokens(batch, n);
        int rc = llama_decode(ctx, batch);
        if (rc != 0) {
            throw new IllegalStateException("llama_decode failed with " + rc);
        }
    }
}
