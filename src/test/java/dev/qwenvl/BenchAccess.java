package dev.qwenvl;

import dev.qwenvl.bindings.llama_perf_context_data;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

import static dev.qwenvl.bindings.qwenvl_h.llama_perf_context;
import static dev.qwenvl.bindings.qwenvl_h.llama_perf_context_reset;

/**
 * Benchmark-only reads of package-private state (dev.qwenvl.bench): llama.cpp's perf counters of a conversation's
 * context, the cost of its sampler chain, and the model's vision context. Nothing here changes what the facade does.
 */
public final class BenchAccess {
    private BenchAccess() {
    }

    /** llama.cpp's own counters, the numbers llama_perf_context_print shows for llama-mtmd-cli. */
    public record Perf(double promptEvalMs, int promptEvalTokens, double evalMs, int evalRuns) {
    }

    public static Perf perf(Conversation conversation) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment d = llama_perf_context(arena, conversation.context());
            return new Perf(llama_perf_context_data.t_p_eval_ms(d), llama_perf_context_data.n_p_eval(d),
                    llama_perf_context_data.t_eval_ms(d), llama_perf_context_data.n_eval(d));
        }
    }

    /** Zeroes llama.cpp's counters of the conversation's context (shared with its model's other sequences). */
    public static void resetPerf(Conversation conversation) {
        llama_perf_context_reset(conversation.context());
    }

    /**
     * Median nanoseconds of one {@code llama_sampler_sample} through the chain {@code sampling} builds (the facade's
     * own {@link Sampler}), on the conversation's last logits; call it after a generation, never during one.
     */
    public static long sampleNanos(Conversation conversation, SamplingOptions sampling, int calls) {
        VisionLanguageModel model = conversation.model();
        long[] took = new long[calls];
        try (Sampler sampler = Sampler.create(model.model(), model.vocab(), sampling)) {
            for (int i = 0; i < calls; i++) {
                long t0 = System.nanoTime();
                sampler.sample(conversation.context(), -1);
                took[i] = System.nanoTime() - t0;
            }
        }
        Arrays.sort(took);
        return took[calls / 2];
    }

    /** The model's libmtmd context, for timing libmtmd's own image decoder on it. */
    public static MemorySegment vision(VisionLanguageModel model) {
        return model.vision();
    }
}
