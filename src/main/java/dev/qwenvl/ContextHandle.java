package dev.qwenvl;

import dev.qwenvl.bindings.llama_batch;
import dev.qwenvl.bindings.llama_context_params;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.util.List;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;
import java.util.stream.Collectors;
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
import static dev.qwenvl.bindings.qwenvl_h.llama_memory_seq_rm;
import static dev.qwenvl.bindings.qwenvl_h.llama_n_batch;
import static dev.qwenvl.bindings.qwenvl_h.llama_n_ctx;
import static dev.qwenvl.bindings.qwenvl_h.llama_perf_context_reset;
import static dev.qwenvl.bindings.qwenvl_h.llama_set_abort_callback;
import static dev.qwenvl.bindings.qwenvl_h.llama_synchronize;
import static dev.qwenvl.bindings.qwenvl_h.llama_vocab_bos;
import static dev.qwenvl.bindings.qwenvl_h.llama_vocab_eos;
import static dev.qwenvl.bindings.qwenvl_h.qwenvl_abort_when_flagged$address;

/**
 * A conversation's sequence of a llama.cpp context: a context of its own (sequence 0, with the byte its abort
 * callback polls), or a sequence leased from the model's {@link SharedContext}, whose generated tokens are decoded
 * together with the other sequences'. Every use of the context but {@link #decodeAndSample} runs inside
 * {@link #exclusive}.
 */
final class ContextHandle implements AutoCloseable {
    private static final VarHandle BYTE = ValueLayout.JAVA_BYTE.varHandle();
    /** Ours, not llama_decode's: the decode returned 0, but an rpc-server it computed on had stopped answering. */
    static final int RPC_LOST = -100;

    /** llama_decode failed with this code (or {@link #RPC_LOST}, naming the servers that stopped answering). */
    static final class DecodeFailedException extends RuntimeException {
        final int rc;

        DecodeFailedException(int rc, List<RpcServer> rpcServers) {
            this(rc, rpcServers, "");
        }

        /** With what llama.cpp logged on the thread that decoded, if not this one. */
        DecodeFailedException(int rc, List<RpcServer> rpcServers, String nativeLog) {
            super("llama_decode failed with " + rc + " (" + (rc == RPC_LOST ? RpcServer.lost(rpcServers).stream()
                    .map(s -> "the rpc-server at " + s).collect(Collectors.joining(" and ")) + " stopped answering"
                    + " (it crashed, or its network failed): restart it, then load the model again"
                    : decodeError(rc)) + ")" + (nativeLog.isEmpty() ? "" : " (llama.cpp: " + nativeLog + ")"),
                    null, false, false);
            this.rc = rc;
        }
    }

    private final Arena arena = Arena.ofShared();
    private final MemorySegment ctx;
    private final int seqId;
    private final SharedContext shared; // null when this handle owns its context
    private final List<RpcServer> rpcServers;
    private final ReentrantLock lock; // null for a shared context's sequence
    private final MemorySegment batch;
    private final MemorySegment textBatch;
    private final MemorySegment abortFlag;
    private final int contextSize;
    private final int batchSize;
    private MemorySegment scratch;

    /** A context of its own, sized by the model's options. */
    ContextHandle(VisionLanguageModel model) {
        ModelOptions o = model.options();
        MemorySegment c = llama_init_from_model(model.model(), params(arena, o));
        if (NativeRuntime.isNull(c)) {
            arena.close();
            throw new ModelLoadException(NativeLog.withRecent("llama.cpp could not create a context of "
                    + o.contextSize() + " tokens for " + model.modelFile().getFileName()));
        }
        ctx = c;
        seqId = 0;
        shared = null;
        rpcServers = o.rpcServers();
        lock = new ReentrantLock();
        // llama.cpp polls this byte at every graph node: a C callback, since a Java upcall per node slowed decoding
        abortFlag = arena.allocate(1);
        llama_set_abort_callback(ctx, qwenvl_abort_when_flagged$address(), abortFlag);
        if (o.warmup()) {
            warmUp(ctx, model.vocab());
        }
        contextSize = llama_n_ctx(ctx);
        batchSize = llama_n_batch(ctx); // llama.cpp caps it at the requested n_ctx, and asserts on a larger batch
        batch = llama_batch_init(arena, 1, 0, 1);
        textBatch = llama_batch_init(arena, batchSize, 0, 1);
    }

    /** Sequence {@code seqId} of the shared context, leased by the caller. */
    ContextHandle(SharedContext shared, int seqId) {
        this.shared = shared;
        this.seqId = seqId;
        this.ctx = shared.ctx();
        this.lock = null; // the shared context's exclusive section
        this.rpcServers = List.of(); // the shared context's rounds decode
        this.contextSize = shared.contextSize();
        this.batchSize = shared.batchSize();
        this.abortFlag = null; // aborting a shared decode would abort every sequence's token: cancel between steps
        this.batch = null;     // the shared context's rounds build the batches
        this.textBatch = null;
    }

    /** A context's parameters for options (also what the memory plan measures). */
    static MemorySegment params(Arena arena, ModelOptions o) {
        MemorySegment params = llama_context_default_params(arena);
        llama_context_params.n_ctx(params, o.contextSize());
        llama_context_params.n_batch(params, o.batchSize());
        llama_context_params.n_ubatch(params, Math.min(o.microBatchSize(), o.batchSize()));
        llama_context_params.n_threads(params, o.threads());
        llama_context_params.n_threads_batch(params, o.batchThreads());
        llama_context_params.flash_attn_type(params, VisionLanguageModel.flashAttention(o.flashAttention()));
        llama_context_params.no_perf(params, false);
        return params;
    }

    /**
     * Decodes [BOS, EOS] once and forgets it, as llama-mtmd-cli's common_init does: the weights are paged in and the
     * compute buffers sized at creation, not during the first question. Changes no output.
     */
    static void warmUp(MemorySegment ctx, MemorySegment vocab) {
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

    int seqId() {
        return seqId;
    }

    /** Runs {@code use} with the context to itself (a shared context's other sequences wait meanwhile). */
    <T> T exclusive(Supplier<T> use) {
        if (shared != null) {
            return shared.exclusive(use);
        }
        lock.lock();
        try {
            return use.get();
        } finally {
            lock.unlock();
        }
    }

    /** Whether this thread is inside a use of the context (a log handler called during its decode, say). */
    boolean usedByCurrentThread() {
        return shared != null ? shared.usedByCurrentThread() : lock.isHeldByCurrentThread();
    }

    void exclusive(Runnable use) {
        exclusive(() -> {
            use.run();
            return null;
        });
    }

    /**
     * Decodes {@code token} at {@code pos}, then samples the next token, as llama-mtmd-cli's generate_response
     * does; a shared context decodes it together with the other sequences' tokens.
     *
     * @throws DecodeFailedException if llama_decode fails
     */
    int decodeAndSample(int token, int pos, Sampler sampler) {
        if (shared != null) {
            return shared.decodeAndSample(seqId, token, pos, sampler);
        }
        lock.lock(); // not exclusive(): its lambda and the boxed token would be allocated on every token
        try {
            decode(token, pos);
            return sampler.sample(ctx, -1);
        } finally {
            lock.unlock();
        }
    }

    /** Decodes {@code token} at {@code pos} without sampling after it (the answer's last token). */
    void decodeLast(int token, int pos) {
        if (shared != null) {
            shared.decodeAndSample(seqId, token, pos, null);
        } else {
            lock.lock();
            try {
                decode(token, pos); // unsynchronized, as llama-mtmd-cli's last decode: the same counters as it
            } finally {
                lock.unlock();
            }
        }
    }

    private void decode(int token, int pos) {
        llama_batch.n_tokens(batch, 1);
        llama_batch.token(batch).setAtIndex(ValueLayout.JAVA_INT, 0, token);
        llama_batch.pos(batch).setAtIndex(ValueLayout.JAVA_INT, 0, pos);
        llama_batch.n_seq_id(batch).setAtIndex(ValueLayout.JAVA_INT, 0, 1);
        llama_batch.seq_id(batch).getAtIndex(ValueLayout.ADDRESS, 0).reinterpret(4)
                .set(ValueLayout.JAVA_INT, 0, seqId);
        llama_batch.logits(batch).setAtIndex(ValueLayout.JAVA_BYTE, 0, (byte) 1);
        int rc = decode(ctx, batch, rpcServers);
        if (rc != 0) {
            throw new DecodeFailedException(rc, rpcServers);
        }
    }

    /**
     * llama_decode, and where layers are on rpc-servers a synchronize and {@link #RPC_LOST} if a server stopped
     * answering: ggml's client completes the replies the decode waited for with zeros, and fails later computes (-3).
     */
    static int decode(MemorySegment ctx, MemorySegment batch, List<RpcServer> rpcServers) {
        int rc = llama_decode(ctx, batch);
        if (rpcServers.isEmpty() || rc != 0 && rc != -3) {
            return rc;
        }
        if (rc == 0) {
            llama_synchronize(ctx);
        }
        return RpcServer.lost(rpcServers).isEmpty() ? rc : RPC_LOST;
    }

    /**
     * Decodes {@code tokens[from..]} from position {@code pos} in slices of the batch size, as libmtmd's helper
     * decodes a text chunk, with logits for the last token only if {@code logitsLast}; then samples that token with
     * {@code sampler} if not null, before another decode replaces its logits, and returns it (or -1). A shared
     * context decodes the text in its rounds, beside the other sequences' tokens.
     *
     * @throws DecodeFailedException if llama_decode fails
     */
    int decodeText(int[] tokens, int from, int pos, boolean logitsLast, Sampler sampler) {
        if (shared != null) {
            return shared.decodeText(seqId, tokens, from, pos, logitsLast, sampler);
        }
        lock.lock();
        try {
            int i = from;
            while (i < tokens.length) {
                int n = 0;
                for (; i < tokens.length && n < batchSize; i++, n++) {
                    llama_batch.token(textBatch).setAtIndex(ValueLayout.JAVA_INT, n, tokens[i]);
                    llama_batch.pos(textBatch).setAtIndex(ValueLayout.JAVA_INT, n, pos++);
                    llama_batch.n_seq_id(textBatch).setAtIndex(ValueLayout.JAVA_INT, n, 1);
                    llama_batch.seq_id(textBatch).getAtIndex(ValueLayout.ADDRESS, n).reinterpret(4)
                            .set(ValueLayout.JAVA_INT, 0, seqId);
                    llama_batch.logits(textBatch).setAtIndex(ValueLayout.JAVA_BYTE, n, (byte) 0);
                }
                if (logitsLast && i == tokens.length) {
                    llama_batch.logits(textBatch).setAtIndex(ValueLayout.JAVA_BYTE, n - 1, (byte) 1);
                }
                llama_batch.n_tokens(textBatch, n);
                int rc = decode(ctx, textBatch, rpcServers);
                if (rc != 0) {
                    throw new DecodeFailedException(rc, rpcServers);
                }
            }
            return logitsLast && sampler != null && from < tokens.length ? sampler.sample(ctx, -1) : -1;
        } finally {
            lock.unlock();
        }
    }

    /** A sequence of a shared context starts or stops generating (rounds wait briefly for its tokens). */
    void generating(boolean starts) {
        if (shared != null) {
            shared.generating(starts);
        }
    }

    /** A buffer of at least {@code size} bytes for llama.cpp to write text into, reused between calls. */
    MemorySegment scratch(int size) {
        if (scratch == null || scratch.byteSize() < size) {
            scratch = arena.allocate(Math.max(size, 256));
        }
        return scratch;
    }

    /** Raises or lowers the flag llama.cpp polls between graph nodes (a context of its own only). */
    void setAbort(boolean abort) {
        if (abortFlag != null) {
            BYTE.setVolatile(abortFlag, 0L, (byte) (abort ? 1 : 0));
        }
    }

    int contextSize() {
        return contextSize;
    }

    int batchSize() {
        return batchSize;
    }

    /** Frees the context, or empties and returns the leased sequence; the caller guarantees nothing uses them. */
    @Override
    public void close() {
        if (shared == null) {
            llama_batch_free(batch);
            llama_batch_free(textBatch);
            llama_free(ctx);
        } else {
            exclusive(() -> {
                llama_memory_seq_rm(llama_get_memory(ctx), seqId, -1, -1);
            });
            shared.release(seqId);
        }
        arena.close();
    }

    static String decodeError(int rc) {
        return switch (rc) {
            case 1 -> "no KV cache slot: the context is full";
            case 2 -> "aborted";
            case -1 -> "invalid batch";
            case RPC_LOST -> "an rpc-server stopped answering";
            default -> rc < -1 ? "fatal error in the backend" : "warning";
        };
    }
}
