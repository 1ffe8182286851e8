package dev.qwenvl;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Spliterator;
import java.util.Spliterators;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;

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
 * <h2>Calls from other threads and from callbacks</h2>
 * One conversation answers one question at a time. While it answers (inside {@link #ask}, or while a
 * {@link #stream} is open), on any thread, including from inside that answer's own {@code onText} listener or stream
 * consumer:
 * <ul>
 *   <li>{@link #cancel()} works: the answer stops within one token (or at the next prompt batch);</li>
 *   <li>{@link #close()}, and {@link VisionLanguageModel#close()}, work: they stop the answer, free the context and
 *       return; the interrupted {@code ask} then returns what it had, with {@link StopReason#CANCELLED};</li>
 *   <li>{@link #history()}, {@link #tokensUsed()} and {@link #contextSize()} answer at once;</li>
 *   <li>{@link #ask}, {@link #stream}, {@link #append} and {@link #reset()} throw {@link IllegalStateException}.</li>
 * </ul>
 * Other conversations of the same model are independent: they may be used from any thread, inside a callback too.
 * After {@code close()} every method but {@code close()} and {@code cancel()} throws {@link IllegalStateException}.
 */
public final class Conversation implements AutoCloseable {
    private final VisionLanguageModel owner;
    private final ConversationOptions options;
    private final ContextHandle context;
    private final ChatTemplate template;
    private final boolean ownTemplate;
    private final SequenceState seq;
    private final ReentrantLock nativeLock = new ReentrantLock(); // held by every use of the context, and to free it
    private final CountDownLatch freedLatch = new CountDownLatch(1);
    private final ChatSampler sampler; // guarded by nativeLock
    private final ConversationGate gate;

    Conversation(VisionLanguageModel owner, ConversationOptions options) {
        this.owner = owner;
        this.options = Objects.requireNonNull(options, "options");
        ContextHandle c = owner.newContextHandle();
        try {
            template = options.templateOverride() == null ? owner.template()
                    : ChatTemplate.of(owner.model(), options.templateOverride());
        } catch (RuntimeException e) {
            c.close();
            throw e;
        }
        context = c;
        ownTemplate = options.templateOverride() != null;
        seq = new SequenceState(c.ctx(), c.seqId());
        sampler = new ChatSampler(owner);
        gate = new ConversationGate(c, owner::checkOpen);
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
     * whole answer. Turns given to {@link #append} since the last question are evaluated first. If {@code onText}
     * throws, the question is undone (as if never asked) and the exception propagates.
     *
     * @throws ContextOverflowException if the message does not fit the context; nothing is evaluated then
     * @throws PromptException          if the template or tokenizer rejects the message, or the template renders it
     *                                  without a token to answer from
     * @throws ImageException           if libmtmd cannot use an image
     * @throws GenerationException      if llama.cpp fails while evaluating
     * @throws IllegalStateException    if the conversation is closed or already answering (see the class comment)
     */
    public Generation ask(Message message, SamplingOptions sampling, Consumer<String> onText) {
        Objects.requireNonNull(onText, "onText");
        Question r = claim(message, sampling);
        try {
            for (String piece = step(r); piece != null; piece = step(r)) {
                onText.accept(piece);
            }
        } catch (RuntimeException | Error e) {
            abandon(r);
            throw e;
        }
        return complete(r);
    }

    /**
     * Asks and returns the answer's pieces as a lazy stream: each element is decoded when the stream asks for it, on
     * the consuming thread, so nothing is buffered ahead. The conversation is answering until the stream ends or is
     * closed; {@code close()} (from any thread, at any moment) cancels the answer, keeping what was generated.
     * Consume it from one thread, in a try-with-resources block.
     */
    public Stream<String> stream(Message message, SamplingOptions sampling) {
        Question r = claim(message, sampling);
        Spliterator<String> pieces = new Spliterators.AbstractSpliterator<>(Long.MAX_VALUE,
                Spliterator.ORDERED | Spliterator.NONNULL) {
            @Override
            public boolean tryAdvance(Consumer<? super String> action) {
                String piece;
                try {
                    piece = step(r);
                    if (piece != null) {
                        action.accept(piece);
                    }
                } catch (RuntimeException | Error e) {
                    abandon(r);
                    throw e;
                }
                if (piece == null) {
                    complete(r);
                    return false;
                }
                return true;
            }
        };
        return StreamSupport.stream(pieces, false).onClose(() -> {
            r.cancel();
            gate.raiseAbort(r);
            complete(r);
        });
    }

    /**
     * Adds a turn without answering it, as if the conversation had held it all along; it is evaluated together with
     * the next question (so a client that resends a whole chat appends each earlier message, then asks the last).
     * The appended turns and the question render as llama-server renders a whole message list (no newline that
     * llama-mtmd-cli's turn-by-turn rendering adds after a generated answer or its system prompt). An assistant
     * turn's text is what the model is taken to have answered.
     *
     * @throws IllegalStateException if the conversation is closed or answering
     */
    public void append(Role role, Message message) {
        Objects.requireNonNull(role, "role");
        Objects.requireNonNull(message, "message");
        gate.append(new Answer.Turn(new ChatMessage(role.templateName(), message.contentWithMarkers()),
                message.images(), true));
    }

    /** Stops the answer in progress, if any, within one token; the conversation stays usable. Any thread. */
    public void cancel() {
        gate.cancel();
    }

    /**
     * Forgets every turn (appended ones too) and clears the KV cache; the system prompt is sent again with the next
     * message. The sampler's state carries on, as llama-mtmd-cli's {@code /clear} leaves it.
     */
    public void reset() {
        whileIdle(() -> {
            gate.clearPending();
            offerPrefix();
            seq.clear();
        });
    }

    /**
     * Writes the conversation (its turns, the images' content ids and llama.cpp's KV state) to {@code file}, for
     * {@link VisionLanguageModel#restore(Path, ConversationOptions)} on the same model files, in this process or
     * another. Turns appended but not yet asked about, and the sampler's random state, are not saved.
     *
     * @throws java.io.UncheckedIOException if the file cannot be written
     * @throws IllegalStateException        if the conversation is closed or answering
     */
    public void save(java.nio.file.Path file) {
        Objects.requireNonNull(file, "file");
        whileIdle(() -> ConversationFile.write(file, owner.fingerprint(), seq, context.ctx(), context.seqId()));
    }

    /** Loads a saved conversation into this new one (the model checked it was saved from its files). */
    void restoreFrom(java.nio.file.Path file) {
        whileIdle(() -> ConversationFile.read(file, owner.fingerprint(), seq, context.ctx(), context.seqId()));
    }

    /** Runs {@code action} on the context with the conversation claimed, so no question can start meanwhile. */
    private void whileIdle(Runnable action) {
        whileClaimed(gate.claimIdle(), action);
    }

    /**
     * Offers its cells to the prefix cache unless it is answering or closed (then it skips, never waits): the model
     * calls it when a new conversation opens, which may begin the same way while this one is still open. Skipped too
     * from inside a native call on its context (a log handler during a shared context's round): the state would be
     * read mid-decode.
     */
    void offerPrefixIfIdle() {
        if (context.usedByCurrentThread()) {
            return;
        }
        Question r = gate.tryClaimIdle();
        if (r != null) {
            whileClaimed(r, this::offerPrefix);
        }
    }

    private void whileClaimed(Question r, Runnable action) {
        nativeLock.lock();
        try {
            if (!isClosed()) {
                context.exclusive(action);
            }
        } finally {
            nativeLock.unlock();
            gate.release(r);
            freeIfClosedMeanwhile();
        }
    }

    /** The turns of every question answered so far, as the chat template saw them. Never waits. */
    public List<ChatMessage> history() {
        gate.checkOpen();
        return seq.history();
    }

    /** Tokens of context in use (text tokens plus image embeddings). Never waits. */
    public long tokensUsed() {
        return seq.cells();
    }

    /** The context's size in tokens. */
    public int contextSize() {
        return context.contextSize();
    }

    /**
     * Stops any answer in progress, frees the context and returns once it is freed. Idempotent; safe from any
     * thread and from inside this conversation's own listener or stream consumer.
     */
    @Override
    public void close() {
        boolean first = gate.close();
        if (nativeLock.isHeldByCurrentThread()) {
            return; // called from inside a native call (a log handler): the step frees the context as it unwinds
        }
        if (first) {
            free();
        }
        awaitFreed();
    }

    private void free() {
        nativeLock.lock();
        try {
            if (gate.isFreed()) {
                return;
            }
            context.exclusive(this::offerPrefix);
            sampler.close();
            if (ownTemplate) {
                template.close();
            }
            gate.markFreed(context::close); // the abort flag is never written after this
        } finally {
            nativeLock.unlock();
        }
        freedLatch.countDown();
        owner.forget(this);
    }

    private void awaitFreed() {
        boolean interrupted = false;
        while (true) {
            try {
                freedLatch.await();
                break;
            } catch (InterruptedException e) {
                interrupted = true; // the context must be freed before the model may be
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /** The native context, for the benchmarks' reads of llama.cpp's own counters (test code only). */
    java.lang.foreign.MemorySegment context() {
        return context.ctx();
    }

    VisionLanguageModel model() {
        return owner;
    }

    /** Whether the context has been freed (the model frees itself only after every conversation's context). */
    boolean isFreed() {
        return gate.isFreed();
    }

    // --- one question: claimed, run step by step, then completed or abandoned exactly once (see Question) ---

    private Question claim(Message message, SamplingOptions sampling) {
        Objects.requireNonNull(message, "message");
        Objects.requireNonNull(sampling, "sampling");
        return gate.claim(new Answer.Turn(new ChatMessage(Role.USER.templateName(), message.contentWithMarkers()),
                message.images(), false), sampling);
    }

    /** Runs one step of the question on this thread: the next piece, or null once the answer has ended. */
    private String step(Question r) {
        nativeLock.lock();
        try {
            if (isClosed()) {
                return null;
            }
            return r.step(() -> new Answer(owner, context, seq, new Prefill(owner, context, template, options, seq,
                    r::cancelled), turnsOf(r), sampler.forOptions(r.sampling()), r.sampling(), r::cancelled));
        } finally {
            nativeLock.unlock();
            freeIfClosedMeanwhile();
        }
    }

    /** What the question evaluates: the system prompt if the chat is new, the appended turns, the question. */
    private List<Answer.Turn> turnsOf(Question r) {
        List<Answer.Turn> turns = new ArrayList<>();
        if (seq.turns().isEmpty() && options.systemPrompt() != null) {
            turns.add(new Answer.Turn(new ChatMessage(Role.SYSTEM.templateName(), options.systemPrompt()),
                    List.of(), false));
        }
        turns.addAll(r.appended());
        turns.add(r.message());
        return turns;
    }

    /** Ends the question, keeping what it evaluated and generated; returns the same answer however often called. */
    private Generation complete(Question r) {
        nativeLock.lock();
        try {
            if (!r.ended()) {
                if (r.complete(isClosed())) {
                    gate.restorePending(r);
                }
                gate.release(r);
            }
            return r.result();
        } finally {
            nativeLock.unlock();
            freeIfClosedMeanwhile();
        }
    }

    /** Undoes the question after a failure (its own, or its listener's). */
    private void abandon(Question r) {
        nativeLock.lock();
        try {
            if (r.abandon(isClosed())) {
                gate.restorePending(r);
                gate.release(r);
            }
        } finally {
            nativeLock.unlock();
            freeIfClosedMeanwhile();
        }
    }

    /**
     * Gives the prefix cache a copy of what the sequence holds, for conversations that begin the same way: when a new
     * conversation opens (so one still open shares it), and at reset and close. The caller holds the context.
     */
    private void offerPrefix() {
        owner.prefixCache().offer(context.ctx(), context.seqId(), seq.items());
    }

    /** Frees the context when a close() from inside a native callback had to leave it to this step. */
    private void freeIfClosedMeanwhile() {
        if (!nativeLock.isHeldByCurrentThread()) {
            if (gate.freeDue()) {
                free();
            }
        }
    }

    private boolean isClosed() {
        return gate.isClosed();
    }
}
