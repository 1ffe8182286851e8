package dev.qwenvl;

import dev.qwenvl.bindings.llama_batch;
import dev.qwenvl.bindings.llama_context_params;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.util.stream.IntStream;

import static dev.qwenvl.bindings.qwenvl_h.LLAMA_TOKEN_NULL;
import static dev.qwenvl.bindings.qwenvl_h.llama_batch_free;
import static dev.qwenvl.bindings.qwenvl_h.llama_batch_get_one;
import static dev.qwenvl.bindings.qwenvl_h.llama_batch_init;
import static dev.qwenvl.bindings.qwenvl_h.llama_context_default_params;
import static dev.qwenvl.bindings.qwenvl_h.llama_decode;
import static dev.qwenvl.bindings.qwenvl_h.llama_free;
import static dev.qwenvl.bindings.qwenvl_h.llama_get_memory;
import static dev.qwenvl.bindings.qwenvl_h.llama_init_from_model;
import static dev.qwenvl.bindings.qwenvl_h.llama_memory_clear;
import static dev.qwenvl.bindings.qwenvl_h.llama_n_batch;
import static dev.qwenvl.bindings.qwenvl_h.llama_n_ctx;
import static dev.qwenvl.bindings.qwenvl_h.llama_perf_context_reset;
import static dev.qwenvl.bindings.qwenvl_h.llama_set_abort_callback;
import static dev.qwenvl.bindings.qwenvl_h.llama_synchronize;
import static dev.qwenvl.bindings.qwenvl_h.llama_vocab_bos;
import static dev.qwenvl.bindings.qwenvl_h.llama_vocab_eos;
import static dev.qwenvl.bindings.qwenvl_h.qwenvl_abort_when_flagged$address;

/**
 * The owner of one llama.cpp context: the context itself, its one-token batch, and the byte its abort callback polls.
 * Not thread-safe; its conversation serializes every use and {@link #close()}.
 */
final class ContextHandle implements AutoCloseable {
    private static final VarHandle BYTE = ValueLayout.JAVA_BYTE.varHandle();
    private final Arena arena = Arena.ofShared();
    private final MemorySegment ctx;
    private final MemorySegment batch;
    private final MemorySegment abortFlag;
    private final int contextSize;
    private final int batchSize;
    private MemorySegment scratch;

    ContextHandle(VisionLanguageModel model) {
        ModelOptions o = model.options();
        MemorySegment params = llama_context_default_params(arena);
        llama_context_params.n_ctx(params, o.contextSize());
        llama_context_params.n_batch(params, o.batchSize());
        llama_context_params.n_ubatch(params, Math.min(o.microBatchSize(), o.batchSize()));
        llama_context_params.n_threads(params, o.threads());
        llama_context_params.n_threads_batch(params, o.batchThreads());
        llama_context_params.flash_attn_type(params, VisionLanguageModel.flashAttention(o.flashAttention()));
        llama_context_params.no_perf(params, false);
        MemorySegment c = llama_init_from_model(model.model(), params);
        if (NativeRuntime.isNull(c)) {
            arena.close();
            throw new ModelLoadException(NativeLog.withRecent("llama.cpp could not create a context of "
                    + o.contextSize() + " tokens for " + model.modelFile().getFileName()));
        }
        ctx = c;
        // llama.cpp polls this byte at every graph node: a C callback, since a Java upcall per node slowed decoding
        abortFlag = arena.allocate(1);
        llama_set_abort_callback(ctx, qwenvl_abort_when_flagged$address(), abortFlag);
        if (o.warmup()) {
            warmUp(model.vocab());
        }
        contextSize = llama_n_ctx(ctx);
        batchSize = llama_n_batch(ctx); // llama.cpp caps it at the requested n_ctx, and asserts on a larger batch
        batch = llama_batch_init(arena, 1, 0, 1);
    }

    /**
     * Decodes [BOS, EOS] once and forgets it, as llama-mtmd-cli's common_init does: the weights are paged in and the
     * compute buffers sized at creation, not during the first question. Changes no output.
     */
    private void warmUp(MemorySegment vocab) {
        try (Arena a = Arena.ofConfined()) {
            int[] tokens = IntStream.of(llama_vocab_bos(vocab), llama_vocab_eos(vocab))
                    .filter(t -> t != LLAMA_TOKEN_NULL()).toArray();
            MemorySegment ids = a.allocateFrom(ValueLayout.JAVA_INT, tokens.length == 0 ? new int[]{0} : tokens);
            llama_decode(ctx, llama_batch_get_one(a, ids, (int) (ids.byteSize() / 4)));
            llama_memory_clear(llama_get_memory(ctx), true);
            llama_synchronize(ctx);
            llama_perf_context_reset(ctx);
        }
    }

    MemorySegment ctx() {
        return ctx;
    }

    /** Decodes one token of sequence 0 at {@code pos}, asking for its logits; returns llama_decode's code. */
    int decodeOne(int token, int pos) {
        llama_batch.n_tokens(batch, 1);
        llama_batch.token(batch).setAtIndex(ValueLayout.JAVA_INT, 0, token);
        llama_batch.pos(batch).setAtIndex(ValueLayout.JAVA_INT, 0, pos);
        llama_batch.n_seq_id(batch).setAtIndex(ValueLayout.JAVA_INT, 0, 1);
        llama_batch.seq_id(batch).getAtIndex(ValueLayout.ADDRESS, 0).reinterpret(4).set(ValueLayout.JAVA_INT, 0, 0);
        llama_batch.logits(batch).setAtIndex(ValueLayout.JAVA_BYTE, 0, (byte) 1);
        return llama_decode(ctx, batch);
    }

    /** A buffer of at least {@code size} bytes for llama.cpp to write text into, reused between calls. */
    MemorySegment scratch(int size) {
        if (scratch == null || scratch.byteSize() < size) {
            scratch = arena.allocate(Math.max(size, 256));
        }
        return scratch;
    }

    /** Raises or lowers the flag llama.cpp polls between graph nodes. */
    void setAbort(boolean abort) {
        BYTE.setVolatile(abortFlag, 0L, (byte) (abort ? 1 : 0));
    }

    int contextSize() {
        return contextSize;
    }

    int batchSize() {
        return batchSize;
    }

    /** Frees the batch and the context; the caller guarantees nothing uses them any more. */
    @Override
    public void close() {
        llama_batch_free(batch);
        llama_free(ctx);
        arena.close();
    }

    static String decodeError(int rc) {
        return switch (rc) {
            case 1 -> "no KV cache slot: the context is full";
            case 2 -> "aborted";
            case -1 -> "invalid batch";
            default -> rc < -1 ? "fatal error in the backend" : "warning";
        };
    }
}
