package dev.qwenvl;

import dev.qwenvl.bindings.llama_batch;
import dev.qwenvl.bindings.llama_context_params;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;

import static dev.qwenvl.bindings.qwenvl_h.llama_batch_free;
import static dev.qwenvl.bindings.qwenvl_h.llama_batch_init;
import static dev.qwenvl.bindings.qwenvl_h.llama_free;
import static dev.qwenvl.bindings.qwenvl_h.llama_init_from_model;
import static dev.qwenvl.bindings.qwenvl_h.llama_n_batch;
import static dev.qwenvl.bindings.qwenvl_h.llama_n_ctx_seq;
import static dev.qwenvl.bindings.qwenvl_h.llama_synchronize;

/**
 * One llama.cpp context whose sequences the model's conversations lease ({@link ModelOptions#parallelSequences()}
 * of them), so that their tokens are decoded together: each step of each generating conversation hands its token
 * in, each prompt hands in its text, and the context's decoder thread decodes everything handed in, in one
 * {@code llama_decode} of at most {@code n_batch} rows, and samples each sequence with its own sampler before it
 * decodes again (the logits of a batch live only until the next decode). A prompt longer than the room a round
 * leaves goes on in the next rounds. Every other use of the context runs in {@link #exclusive}, ahead of the rounds
 * waiting.
 *
 * <p>One thread decodes, the context's decoder (its warm-up too), because ggml's OpenMP gives every thread that
 * computes a worker pool of its own that lives as long as that thread: with the rounds run by whichever conversation
 * came first, N conversation threads kept N pools. Images are still encoded and decoded on the asking thread.
 */
final class SharedContext implements AutoCloseable {
    private static final long GATHER_NANOS = 2_000_000; // how long a round waits for generating sequences to hand in
    private static final Comparator<Request> BY_SEQUENCE = Comparator.comparingInt(r -> r.seq);

    /**
     * One sequence's rows waiting to be decoded: a generated token, or a prompt's text tokens {@code [from, to)};
     * then its next token or the decode's failure.
     */
    private static final class Request {
        final int seq;
        final int token;
        final int[] text;      // null: one generated token
        final int to;
        final boolean logitsLast;
        final Sampler sampler; // null: no sampling after the last row
        int from;
        int pos;
        int rows;              // how many rows the current round takes
        int next = -1;
        int rc;
        String nativeLog = ""; // what llama.cpp complained about on the decoder thread when rc != 0
        boolean done;

        Request(int seq, int token, int pos, Sampler sampler) {
            this.seq = seq;
            this.token = token;
            this.text = null;
            this.to = 1;
            this.logitsLast = sampler != null;
            this.sampler = sampler;
            this.pos = pos;
        }

        Request(int seq, int[] text, int from, int pos, boolean logitsLast, Sampler sampler) {
            this.seq = seq;
            this.token = -1;
            this.text = text;
            this.from = from;
            this.to = text.length;
            this.logitsLast = logitsLast;
            this.sampler = logitsLast ? sampler : null;
            this.pos = pos;
        }

        int left() {
            return to - from;
        }
    }

    private final Arena arena = Arena.ofShared();
    private final MemorySegment ctx;
    private final MemorySegment batch;
    private final ReentrantLock lock = new ReentrantLock();
    private final AtomicInteger exclusiveWaiting = new AtomicInteger(); // rounds do not start while one waits
    private final boolean[] leased;
    private final List<RpcServer> rpcServers;
    private final int contextSize;
    private final int batchSize;
    private final Object rounds = new Object();
    private final List<Request> waiting = new ArrayList<>(); // guarded by rounds
    private int tokensWaiting;                                // generated tokens in waiting; guarded by rounds
    private int generating;                                   // guarded by rounds
    private boolean closing;                                  // guarded by rounds
    private final Thread decoder;

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
        contextSize = llama_n_ctx_seq(ctx);
        batchSize = Math.max(llama_n_batch(ctx), n); // every generating sequence's token fits in one round
        batch = llama_batch_init(arena, batchSize, 0, 1);
        leased = new boolean[n];
        rpcServers = o.rpcServers();
        CountDownLatch warm = new CountDownLatch(1);
        decoder = Thread.ofPlatform().daemon().name("qwenvl-decoder-" + model.modelFile().getFileName()).start(() -> {
            try {
                if (o.warmup()) { // here too, not on the thread that happened to open the first conversation
                    ContextHandle.warmUp(ctx, model.vocab());
                }
            } finally {
                warm.countDown();
            }
            decodeRounds();
        });
        uninterruptibly(warm::await);
    }

    private interface Blocking {
        void run() throws InterruptedException;
    }

    /** Runs {@code b} to its end whatever interrupts come meanwhile, then restores the caller's interrupt. */
    private static void uninterruptibly(Blocking b) {
        boolean interrupted = false;
        while (true) {
            try {
                b.run();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
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

    int contextSize() {
        return contextSize;
    }

    int batchSize() {
        return batchSize;
    }

    int sequences() {
        return leased.length;
    }

    /**
     * Runs {@code use} with the context to itself, as soon as the round in progress ends: rounds do not start
     * while it waits (they would otherwise take the lock again and again before a waiting thread wakes).
     */
    <T> T exclusive(Supplier<T> use) {
        exclusiveWaiting.incrementAndGet();
        try {
            lock.lock();
        } finally {
            exclusiveWaiting.decrementAndGet();
        }
        try {
            return use.get();
        } finally {
            lock.unlock();
            synchronized (rounds) {
                rounds.notifyAll(); // the sequences that stood back for it
            }
        }
    }

    /** Whether this thread is inside the context's own use (a round, or an exclusive section): a native call on it. */
    boolean usedByCurrentThread() {
        return lock.isHeldByCurrentThread();
    }

    /** A sequence starts or stops generating: rounds wait briefly for the tokens of those generating. */
    void generating(boolean starts) {
        synchronized (rounds) {
            generating += starts ? 1 : -1;
        }
    }

    /**
     * Decodes {@code token} of {@code seq} at {@code pos} together with the other sequences' rows, then samples
     * the sequence's next token with {@code sampler} and returns it; a null sampler decodes without logits or
     * sampling (the answer's last token, which enters the cache in the round rather than in a decode of its own).
     *
     * @throws ContextHandle.DecodeFailedException with llama_decode's code if the decode failed
     */
    int decodeAndSample(int seq, int token, int pos, Sampler sampler) {
        return await(new Request(seq, token, pos, sampler));
    }

    /**
     * Decodes {@code tokens[from..]} of {@code seq} from {@code pos} in the rounds, with logits for the last token
     * only if {@code logitsLast}, and then samples it with {@code sampler} if not null; returns that token, or -1.
     *
     * @throws ContextHandle.DecodeFailedException with llama_decode's code if a decode failed
     */
    int decodeText(int seq, int[] tokens, int from, int pos, boolean logitsLast, Sampler sampler) {
        return from == tokens.length ? -1 : await(new Request(seq, tokens, from, pos, logitsLast, sampler));
    }

    private int await(Request r) {
        boolean interrupted = false;
        synchronized (rounds) {
            waiting.add(r);
            if (r.text == null) {
                tokensWaiting++;
            }
            rounds.notifyAll();
            while (!r.done) { // the decoder may be reading r's rows: wait for it, interrupted or not
                try {
                    rounds.wait();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        if (r.rc != 0) {
            throw new ContextHandle.DecodeFailedException(r.rc, rpcServers, r.nativeLog);
        }
        return r.next;
    }

    /** The decoder thread: a round whenever rows are waiting and no exclusive use is. */
    private void decodeRounds() {
        while (true) {
            synchronized (rounds) {
                while (!closing && (waiting.isEmpty() || exclusiveWaiting.get() > 0)) {
                    try {
                        rounds.wait(exclusiveWaiting.get() > 0 ? 1 : 0); // exclusive() notifies once it is done
                    } catch (InterruptedException e) {
                        // only close() ends this thread, once no sequence is leased
                    }
                }
                if (closing) {
                    return;
                }
            }
            lock.lock();
            try {
                runRound();
            } catch (RuntimeException | Error e) { // its requests already failed; the next round must still run
                System.getLogger(NativeLog.LOGGER_NAME).log(System.Logger.Level.ERROR, "a decode round failed", e);
            } finally {
                lock.unlock();
            }
        }
    }

    /**
     * With the lock held: gathers what was handed in, decodes a token of every generating sequence and as much
     * prompt text as the batch has room for in one batch, and samples each sequence whose rows ended with logits.
     */
    private void runRound() {
        List<Request> round;
        synchronized (rounds) {
            long deadline = System.nanoTime() + GATHER_NANOS;
            for (long left; tokensWaiting < generating && (left = deadline - System.nanoTime()) > 0; ) {
                try {
                    rounds.wait(left / 1_000_000, (int) (left % 1_000_000));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
            round = new ArrayList<>(waiting);
            waiting.clear();
            tokensWaiting = 0;
        }
        if (round.isEmpty()) {
            return;
        }
        // rows in sequence order, as llama-batched-bench builds its batches: in the order the tokens came, llama.cpp
        // decoded 8 rows of the 3B pair 2.5x slower (0.33 of llama-batched-bench's speed, 0.84 sorted)
        round.sort(BY_SEQUENCE);
        int room = batchSize;
        for (Request q : round) {
            if (q.text == null) {
                q.rows = 1;
                room--;
            }
        }
        for (Request q : round) { // prompts share the room a round's generated tokens leave, in sequence order
            if (q.text != null) {
                q.rows = Math.min(q.left(), room);
                room -= q.rows;
            }
        }
        int outcome = -3; // a failure before llama_decode answered
        try {
            int n = 0;
            for (Request q : round) {
                for (int k = 0; k < q.rows; k++, n++) {
                    boolean lastRow = k == q.rows - 1 && q.rows == q.left();
                    llama_batch.token(batch).setAtIndex(ValueLayout.JAVA_INT, n,
                            q.text == null ? q.token : q.text[q.from + k]);
                    llama_batch.pos(batch).setAtIndex(ValueLayout.JAVA_INT, n, q.pos + k);
                    llama_batch.n_seq_id(batch).setAtIndex(ValueLayout.JAVA_INT, n, 1);
                    llama_batch.seq_id(batch).getAtIndex(ValueLayout.ADDRESS, n).reinterpret(4)
                            .set(ValueLayout.JAVA_INT, 0, q.seq);
                    llama_batch.logits(batch).setAtIndex(ValueLayout.JAVA_BYTE, n,
                            (byte) (lastRow && q.logitsLast ? 1 : 0));
                }
            }
            llama_batch.n_tokens(batch, n);
            int rc = n == 0 ? 0 : ContextHandle.decode(ctx, batch, rpcServers);
            if (rc == 0) {
                llama_synchronize(ctx); // a round of last rows reads no logits: finish it and book it in the counters
            }
            int row = 0;
            for (Request q : round) {
                row += q.rows;
                if (rc == 0 && q.rows == q.left() && q.sampler != null) {
                    q.next = q.sampler.sample(ctx, row - 1); // the batch row: llama.cpp maps it to its output
                }
            }
            outcome = rc;
        } finally {
            synchronized (rounds) {
                for (Request q : round) {
                    if (outcome == 0 && q.rows < q.left()) { // a prompt the batch had no room left for goes on
                        q.from += q.rows;
                        q.pos += q.rows;
                        waiting.add(q);
                    } else {
                        q.rc = outcome;
                        q.nativeLog = outcome == 0 ? "" : NativeLog.drainRecent();
                        q.done = true;
                    }
                }
                rounds.notifyAll();
            }
        }
    }

    /** Ends the decoder thread and frees the context; every lease must have been released. */
    @Override
    public void close() {
        synchronized (rounds) {
            closing = true;
            rounds.notifyAll();
        }
        uninterruptibly(decoder::join);
        llama_batch_free(batch);
        llama_free(ctx);
        arena.close();
    }
}
