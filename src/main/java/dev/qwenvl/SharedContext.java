package dev.qwenvl;

import dev.qwenvl.bindings.llama_batch;
import dev.qwenvl.bindings.llama_context_params;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.locks.ReentrantLock;

import static dev.qwenvl.bindings.qwenvl_h.llama_batch_free;
import static dev.qwenvl.bindings.qwenvl_h.llama_batch_init;
import static dev.qwenvl.bindings.qwenvl_h.llama_decode;
import static dev.qwenvl.bindings.qwenvl_h.llama_free;
import static dev.qwenvl.bindings.qwenvl_h.llama_init_from_model;
import static dev.qwenvl.bindings.qwenvl_h.llama_n_batch;
import static dev.qwenvl.bindings.qwenvl_h.llama_n_ctx_seq;

/**
 * One llama.cpp context whose sequences the model's conversations lease ({@link ModelOptions#parallelSequences()}
 * of them), so that their generated tokens are decoded together: each step of each generating conversation hands
 * its token in, and whichever conversation gets the context first decodes every token handed in, in one
 * {@code llama_decode}, and samples each sequence with its own sampler before anyone decodes again (the logits of
 * a batch live only until the next decode). Every other use of the context holds {@link #lock()}.
 */
final class SharedContext implements AutoCloseable {
    private static final long GATHER_NANOS = 2_000_000; // how long a round waits for generating sequences to hand in
    private static final Comparator<Request> BY_SEQUENCE = Comparator.comparingInt(r -> r.seq);

    /** One sequence's token waiting to be decoded, and then its next token or the decode's failure. */
    private static final class Request {
        final int seq;
        final int token;
        final int pos;
        final Sampler sampler; // null: the answer's last token, decoded without sampling after it
        int next;
        int rc;
        boolean done;

        Request(int seq, int token, int pos, Sampler sampler) {
            this.seq = seq;
            this.token = token;
            this.pos = pos;
            this.sampler = sampler;
        }
    }

    private final Arena arena = Arena.ofShared();
    private final MemorySegment ctx;
    private final MemorySegment batch;
    private final ReentrantLock lock = new ReentrantLock();
    private final boolean[] leased;
    private final int contextSize;
    private final int batchSize;
    private final Object rounds = new Object();
    private final List<Request> waiting = new ArrayList<>(); // guarded by rounds
    private int generating;                                   // guarded by rounds

    /** The context of {@code o.parallelSequences()} sequences of {@code o.contextSize()} tokens each. */
    static MemorySegment params(Arena arena, ModelOptions o) {
        int n = o.parallelSequences();
        MemorySegment params = ContextHandle.params(arena, o);
        llama_context_params.n_ctx(params, o.contextSize() * n);
        llama_context_params.n_seq_max(params, n);
        llama_context_params.kv_unified(params, false); // a stream per sequence: its attention sees only its cells
        return params;
    }

    SharedContext(VisionLanguageModel model) {
        ModelOptions o = model.options();
        int n = o.parallelSequences();
        MemorySegment c = llama_init_from_model(model.model(), params(arena, o));
        if (NativeRuntime.isNull(c)) {
            arena.close();
            throw new ModelLoadException(NativeLog.withRecent("llama.cpp could not create a context of " + n
                    + " sequences of " + o.contextSize() + " tokens for " + model.modelFile().getFileName()));
        }
        ctx = c;
        if (o.warmup()) {
            ContextHandle.warmUp(ctx, model.vocab());
        }
        contextSize = llama_n_ctx_seq(ctx);
        batchSize = llama_n_batch(ctx);
        batch = llama_batch_init(arena, n, 0, 1);
        leased = new boolean[n];
    }

    /** A free sequence id, or -1 when every sequence is leased. */
    synchronized int lease() {
        for (int i = 0; i < leased.length; i++) {
            if (!leased[i]) {
                leased[i] = true;
                return i;
            }
        }
        return -1;
    }

    synchronized void release(int seq) {
        leased[seq] = false;
    }

    MemorySegment ctx() {
        return ctx;
    }

    ReentrantLock lock() {
        return lock;
    }

    int contextSize() {
        return contextSize;
    }

    int batchSize() {
        return batchSize;
    }

    int sequences() {
        return leased.length;
    }

    /** A sequence starts or stops generating: rounds wait briefly for the tokens of those generating. */
    void generating(boolean starts) {
        synchronized (rounds) {
            generating += starts ? 1 : -1;
        }
    }

    /**
     * Decodes {@code token} of {@code seq} at {@code pos} together with the other sequences' tokens, then samples
     * the sequence's next token with {@code sampler} and returns it; a null sampler decodes without logits or
     * sampling (the answer's last token, which enters the cache in the round rather than in a decode of its own).
     *
     * @throws ContextHandle.DecodeFailedException with llama_decode's code if the decode failed
     */
    int decodeAndSample(int seq, int token, int pos, Sampler sampler) {
        Request r = new Request(seq, token, pos, sampler);
        synchronized (rounds) {
            waiting.add(r);
            rounds.notifyAll();
        }
        while (true) {
            synchronized (rounds) {
                if (r.done) {
                    break;
                }
            }
            if (lock.tryLock()) {
                try {
                    runRound();
                } finally {
                    lock.unlock();
                }
            } else {
                synchronized (rounds) {
                    if (!r.done) {
                        try {
                            rounds.wait(1);
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                    }
                }
            }
        }
        if (r.rc != 0) {
            throw new ContextHandle.DecodeFailedException(r.rc);
        }
        return r.next;
    }

    /** With the lock held: gathers the tokens handed in, decodes them in one batch and samples each sequence. */
    private void runRound() {
        List<Request> round;
        synchronized (rounds) {
            long deadline = System.nanoTime() + GATHER_NANOS;
            for (long left; waiting.size() < generating && (left = deadline - System.nanoTime()) > 0; ) {
                try {
                    rounds.wait(left / 1_000_000, (int) (left % 1_000_000));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
            round = new ArrayList<>(waiting);
            waiting.clear();
        }
        // rows in sequence order, as llama-batched-bench builds its batches: in the order the tokens came, llama.cpp
        // decoded 8 rows of the 3B pair 2.5x slower (0.33 of llama-batched-bench's speed, 0.84 sorted)
        round.sort(BY_SEQUENCE);
        if (round.isEmpty()) {
            return;
        }
        int outcome = -3; // a failure before llama_decode answered
        try {
            llama_batch.n_tokens(batch, round.size());
            for (int i = 0; i < round.size(); i++) {
                Request q = round.get(i);
                llama_batch.token(batch).setAtIndex(ValueLayout.JAVA_INT, i, q.token);
                llama_batch.pos(batch).setAtIndex(ValueLayout.JAVA_INT, i, q.pos);
                llama_batch.n_seq_id(batch).setAtIndex(ValueLayout.JAVA_INT, i, 1);
                llama_batch.seq_id(batch).getAtIndex(ValueLayout.ADDRESS, i).reinterpret(4)
                        .set(ValueLayout.JAVA_INT, 0, q.seq);
                llama_batch.logits(batch).setAtIndex(ValueLayout.JAVA_BYTE, i, (byte) (q.sampler == null ? 0 : 1));
            }
            int rc = llama_decode(ctx, batch);
            for (int i = 0; i < round.size() && rc == 0; i++) {
                Request q = round.get(i);
                if (q.sampler != null) {
                    q.next = q.sampler.sample(ctx, i); // the batch row: llama.cpp maps it to its output
                }
            }
            outcome = rc;
        } finally {
            synchronized (rounds) {
                for (Request q : round) {
                    q.rc = outcome;
                    q.done = true;
                }
                rounds.notifyAll();
            }
        }
    }

    /** Frees the context; every lease must have been released. */
    @Override
    public void close() {
        llama_batch_free(batch);
        llama_free(ctx);
        arena.close();
    }
}
