package dev.qwenvl;

import dev.qwenvl.bindings.llama_batch;
import dev.qwenvl.bindings.llama_context_params;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Objects;
import java.util.Spliterators;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;

import static dev.qwenvl.bindings.qwenvl_h.LLAMA_TOKEN_NULL;
import static dev.qwenvl.bindings.qwenvl_h.llama_batch_free;
import static dev.qwenvl.bindings.qwenvl_h.llama_batch_get_one;
import static dev.qwenvl.bindings.qwenvl_h.llama_batch_init;
import static dev.qwenvl.bindings.qwenvl_h.llama_context_default_params;
import static dev.qwenvl.bindings.qwenvl_h.llama_decode;
import static dev.qwenvl.bindings.qwenvl_h.llama_detokenize;
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
import static dev.qwenvl.bindings.qwenvl_h.llama_token_to_piece;
import static dev.qwenvl.bindings.qwenvl_h.llama_vocab_bos;
import static dev.qwenvl.bindings.qwenvl_h.llama_vocab_eos;
import static dev.qwenvl.bindings.qwenvl_h.llama_vocab_is_eog;
import static dev.qwenvl.bindings.qwenvl_h.qwenvl_abort_when_flagged$address;

/**
 * A chat with a {@link VisionLanguageModel}: it owns a llama.cpp context whose KV cache keeps every earlier turn and
 * image, so a follow-up question re-encodes nothing.
 *
 * <pre>{@code
 * try (Conversation chat = model.newConversation(ConversationOptions.defaults().withSystemPrompt("Be brief."))) {
 *     chat.ask(Message.of("What is in this picture?", Image.read(photo)), SamplingOptions.greedy());
 *     Generation more = chat.ask(Message.of("And what colour is it?"), SamplingOptions.greedy());
 * }
 * }</pre>
 *
 * <p>One conversation answers one message at a time: a second call from another thread while it generates throws
 * {@link IllegalStateException}. {@link #cancel()} may be called from any thread and stops within one token.
 * Different conversations of one model may run on different threads.
 */
public final class Conversation implements AutoCloseable {
    private static final java.lang.invoke.VarHandle ABORT = ValueLayout.JAVA_BYTE.varHandle();
    private final VisionLanguageModel owner;
    private final ConversationOptions options;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment ctx;
    private final MemorySegment batch;
    private final ChatTemplate template;
    private final boolean ownTemplate;
    private final int contextSize;
    private final int batchSize;
    private final ReentrantLock busy = new ReentrantLock();
    private final List<ChatMessage> history = new ArrayList<>();
    private final MemorySegment abortFlag;
    private volatile boolean cancelled;
    private volatile boolean closed;
    private boolean freed; // guarded by abortFlag
    private int nPast;      // next position (an image advances it by its n_pos, not its token count)
    private long kvTokens;  // cells the KV cache holds

    Conversation(VisionLanguageModel owner, ConversationOptions options) {
        this.owner = owner;
        this.options = Objects.requireNonNull(options, "options");
        ModelOptions o = owner.options();
        MemorySegment params = llama_context_default_params(arena);
        llama_context_params.n_ctx(params, o.contextSize());
        llama_context_params.n_batch(params, o.batchSize());
        llama_context_params.n_ubatch(params, Math.min(o.microBatchSize(), o.batchSize()));
        llama_context_params.n_threads(params, o.threads());
        llama_context_params.n_threads_batch(params, o.batchThreads());
        llama_context_params.flash_attn_type(params, VisionLanguageModel.flashAttention(o.flashAttention()));
        llama_context_params.no_perf(params, false);
        MemorySegment c = llama_init_from_model(owner.model(), params);
        if (NativeRuntime.isNull(c)) {
            arena.close();
            throw new ModelLoadException(NativeLog.withRecent("llama.cpp could not create a context of "
                    + o.contextSize() + " tokens for " + owner.modelFile().getFileName()));
        }
        ctx = c;
        // llama.cpp polls this byte at every graph node: a C callback, since a Java upcall per node slowed decoding
        abortFlag = arena.allocate(1);
        llama_set_abort_callback(ctx, qwenvl_abort_when_flagged$address(), abortFlag);
        if (o.warmup()) {
            warmUp();
        }
        contextSize = llama_n_ctx(ctx);
        batchSize = llama_n_batch(ctx); // llama.cpp caps it at the requested n_ctx, and asserts on a larger batch
        batch = llama_batch_init(arena, 1, 0, 1);
        ChatTemplate t = null;
        try {
            t = options.templateOverride() == null ? owner.template()
                    : ChatTemplate.of(owner.model(), options.templateOverride());
        } catch (RuntimeException e) {
            freeNative();
            throw e;
        }
        template = t;
        ownTemplate = options.templateOverride() != null;
    }

    /**
     * Decodes [BOS, EOS] once and forgets it, as llama-mtmd-cli's common_init does: the weights are paged in and the
     * compute buffers sized at creation, not during the first question. Changes no output.
     */
    private void warmUp() {
        try (Arena a = Arena.ofConfined()) {
            int bos = llama_vocab_bos(owner.vocab());
            int eos = llama_vocab_eos(owner.vocab());
            int[] tokens = java.util.stream.IntStream.of(bos, eos).filter(t -> t != LLAMA_TOKEN_NULL()).toArray();
            MemorySegment ids = a.allocateFrom(ValueLayout.JAVA_INT, tokens.length == 0 ? new int[]{0} : tokens);
            llama_decode(ctx, llama_batch_get_one(a, ids, (int) (ids.byteSize() / 4)));
            llama_memory_clear(llama_get_memory(ctx), true);
            llama_synchronize(ctx);
            llama_perf_context_reset(ctx);
        }
    }

    /** Asks with {@link SamplingOptions#defaults()} and returns the whole answer. */
    public Generation ask(Message message) {
        return ask(message, SamplingOptions.defaults(), text -> { });
    }

    /** Asks and returns the whole answer. */
    public Generation ask(Message message, SamplingOptions sampling) {
        return ask(message, sampling, text -> { });
    }

    /**
     * Asks, handing each new piece of the answer to {@code onText} as soon as it is complete UTF-8, then returns the
     * whole answer.
     *
     * @throws ContextOverflowException if the message does not fit the context; nothing is evaluated then
     * @throws PromptException          if the template or tokenizer rejects the message
     * @throws ImageException           if libmtmd cannot use an image
     * @throws GenerationException      if llama.cpp fails while evaluating
     * @throws IllegalStateException    if the conversation is closed or already answering on another thread
     */
    public Generation ask(Message message, SamplingOptions sampling, Consumer<String> onText) {
        Objects.requireNonNull(message, "message");
        Objects.requireNonNull(sampling, "sampling");
        Objects.requireNonNull(onText, "onText");
        enter();
        try {
            cancelled = false;
            setAbortFlag(false);
            Prefill prefill = new Prefill(this);
            if (history.isEmpty() && options.systemPrompt() != null) {
                prefill.evaluate(new ChatMessage("system", options.systemPrompt()), List.of(), false);
            }
            if (!cancelled) {
                prefill.evaluate(new ChatMessage("user", message.contentWithMarkers()), message.images(), true);
            }
            if (cancelled) {
                prefill.rollBack();
                return new Generation("", StopReason.CANCELLED, prefill.stats(0, Duration.ZERO));
            }
            try {
                return generate(sampling, onText, prefill);
            } catch (RuntimeException | Error e) {
                prefill.rollBack(); // a failed answer leaves no half turn in the history or the KV cache
                throw e;
            }
        } finally {
            busy.unlock();
        }
    }

    /**
     * Asks and streams the answer's pieces as they come; generation runs on a background thread and the stream's
     * {@code close()} cancels it. Consume the stream from one thread.
     */
    public Stream<String> stream(Message message, SamplingOptions sampling) {
        checkOpen();
        PieceQueue queue = new PieceQueue();
        Thread worker = Thread.ofPlatform().name("qwenvl-generation").daemon().start(() -> {
            try {
                ask(message, sampling, queue::put);
                queue.finish(null);
            } catch (RuntimeException | Error e) {
                queue.finish(e);
            }
        });
        Iterator<String> it = queue.iterator();
        return StreamSupport.stream(Spliterators.spliteratorUnknownSize(it, 0), false).onClose(() -> {
            cancel();
            try {
                worker.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
    }

    /** Stops the answer in progress, if any, within one token; the conversation stays usable. Any thread. */
    public void cancel() {
        cancelled = true;
        setAbortFlag(true);
    }

    /** Writes the byte llama.cpp polls, unless close() has freed it (the lock keeps the two apart). */
    private void setAbortFlag(boolean abort) {
        synchronized (abortFlag) {
            if (!freed) {
                ABORT.setVolatile(abortFlag, 0L, (byte) (abort ? 1 : 0));
            }
        }
    }

    /** Forgets every turn and clears the KV cache; the system prompt is sent again with the next message. */
    public void reset() {
        enter();
        try {
            llama_memory_clear(llama_get_memory(ctx), true);
            history.clear();
            nPast = 0;
            kvTokens = 0;
        } finally {
            busy.unlock();
        }
    }

    /** The turns so far, as the chat template saw them. */
    public List<ChatMessage> history() {
        enter();
        try {
            return List.copyOf(history);
        } finally {
            busy.unlock();
        }
    }

    /** Tokens of context in use (text tokens plus image embeddings). */
    public long tokensUsed() {
        return kvTokens;
    }

    /** The context's size in tokens. */
    public int contextSize() {
        return contextSize;
    }

    /** Stops any generation in progress, waits for it, and frees the context. Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        cancel();
        busy.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            freeNative();
            if (ownTemplate) {
                template.close();
            }
        } finally {
            busy.unlock();
        }
        owner.forget(this);
    }

    private void freeNative() {
        llama_batch_free(batch);
        llama_free(ctx);
        synchronized (abortFlag) {
            freed = true;
            arena.close();
        }
    }

    private void enter() {
        checkOpen();
        if (!busy.tryLock()) {
            throw new IllegalStateException("this conversation is answering on another thread; use one conversation"
                    + " per thread, or wait for the answer");
        }
        if (closed) {
            busy.unlock();
            checkOpen();
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("this conversation is closed");
        }
        owner.checkOpen();
    }

    private Generation generate(SamplingOptions sampling, Consumer<String> onText, Prefill prefill) {
        Utf8Assembler utf8 = new Utf8Assembler();
        StopStrings stops = new StopStrings(sampling.stopStrings(), onText);
        List<Integer> generated = new ArrayList<>();
        StopReason reason = StopReason.MAX_TOKENS;
        long start = 0;
        int limit = sampling.maxTokens() < 0 ? Integer.MAX_VALUE : sampling.maxTokens();
        MemorySegment piece = arena.allocate(256);
        try (Sampler sampler = Sampler.create(owner.model(), owner.vocab(), sampling)) {
            start = System.nanoTime(); // llama-mtmd-cli builds its sampler at load time, outside its timings
            for (int i = 0; i < limit; i++) {
                if (cancelled) {
                    reason = StopReason.CANCELLED;
                    break;
                }
                int token = sampler.sample(ctx);
                generated.add(token);
                if (llama_vocab_is_eog(owner.vocab(), token)) {
                    reason = StopReason.END_OF_GENERATION;
                    break;
                }
                int n = llama_token_to_piece(owner.vocab(), token, piece, (int) piece.byteSize(), 0, true);
                if (n < 0) {
                    piece = arena.allocate(-n);
                    n = llama_token_to_piece(owner.vocab(), token, piece, (int) piece.byteSize(), 0, true);
                }
                if (stops.add(utf8.add(piece.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE)))) {
                    reason = StopReason.STOP_STRING;
                    break;
                }
                if (kvTokens + 1 > contextSize) {
                    reason = StopReason.CONTEXT_FULL;
                    break;
                }
                llama_batch.n_tokens(batch, 1);
                llama_batch.token(batch).setAtIndex(ValueLayout.JAVA_INT, 0, token);
                llama_batch.pos(batch).setAtIndex(ValueLayout.JAVA_INT, 0, nPast);
                llama_batch.n_seq_id(batch).setAtIndex(ValueLayout.JAVA_INT, 0, 1);
                llama_batch.seq_id(batch).getAtIndex(ValueLayout.ADDRESS, 0).reinterpret(4)
                        .set(ValueLayout.JAVA_INT, 0, 0);
                llama_batch.logits(batch).setAtIndex(ValueLayout.JAVA_BYTE, 0, (byte) 1);
                int rc = llama_decode(ctx, batch);
                if (rc == 2 && cancelled) {
                    llama_memory_seq_rm(llama_get_memory(ctx), 0, nPast, -1);
                    reason = StopReason.CANCELLED;
                    break;
                }
                if (rc != 0) {
                    llama_memory_seq_rm(llama_get_memory(ctx), 0, nPast, -1);
                    throw new GenerationException(NativeLog.withRecent("llama_decode failed with " + rc + " ("
                            + decodeError(rc) + ") at position " + nPast));
                }
                nPast++;
                kvTokens++;
            }
        }
        if (reason != StopReason.STOP_STRING) {
            stops.add(utf8.flush());
            stops.finish();
        }
        history.add(new ChatMessage("assistant", detokenize(generated)));
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        return new Generation(stops.text(), reason, prefill.stats(generated.size(), took));
    }

    static String decodeError(int rc) {
        return switch (rc) {
            case 1 -> "no KV cache slot: the context is full";
            case 2 -> "aborted";
            case -1 -> "invalid batch";
            default -> rc < -1 ? "fatal error in the backend" : "warning";
        };
    }

    /** The generated tokens as llama-mtmd-cli records them in its history (special tokens rendered). */
    private String detokenize(List<Integer> tokens) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ids = a.allocate(ValueLayout.JAVA_INT, Math.max(1, tokens.size()));
            for (int i = 0; i < tokens.size(); i++) {
                ids.setAtIndex(ValueLayout.JAVA_INT, i, tokens.get(i));
            }
            int len = Math.max(64, tokens.size() * 16);
            MemorySegment buf = a.allocate(len);
            int n = llama_detokenize(owner.vocab(), ids, tokens.size(), buf, len, false, true);
            if (n < 0) {
                buf = a.allocate(-n);
                n = llama_detokenize(owner.vocab(), ids, tokens.size(), buf, -n, false, true);
            }
            return new String(buf.asSlice(0, Math.max(0, n)).toArray(ValueLayout.JAVA_BYTE),
                    java.nio.charset.StandardCharsets.UTF_8);
        }
    }

    // --- state shared with Prefill, which evaluates messages into this conversation's context ---

    MemorySegment context() {
        return ctx;
    }

    VisionLanguageModel model() {
        return owner;
    }

    ConversationOptions options() {
        return options;
    }

    ChatTemplate template() {
        return template;
    }

    List<ChatMessage> turns() {
        return history;
    }

    int nPast() {
        return nPast;
    }

    long kvTokens() {
        return kvTokens;
    }

    void advance(int newNPast, long addedTokens) {
        nPast = newNPast;
        kvTokens += addedTokens;
    }

    void restore(int oldNPast, long oldKvTokens) {
        llama_memory_seq_rm(llama_get_memory(ctx), 0, oldNPast, -1);
        nPast = oldNPast;
        kvTokens = oldKvTokens;
    }

    boolean isCancelled() {
        return cancelled;
    }

    int batchSize() {
        return batchSize;
    }
}
