package dev.qwenvl;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.List;
import java.util.function.BooleanSupplier;

import static dev.qwenvl.bindings.qwenvl_h.llama_detokenize;
import static dev.qwenvl.bindings.qwenvl_h.llama_token_to_piece;
import static dev.qwenvl.bindings.qwenvl_h.llama_vocab_is_eog;

/**
 * One question and its answer, run one step at a time: the first step evaluates the turns (as llama-mtmd-cli's
 * eval_message), each later step samples and decodes tokens (as its generate_response) until a piece of text is
 * complete. The code base's one token loop; {@link Conversation#ask} drives it with a listener, and
 * {@link Conversation#stream} pulls it. Every method must be called with the conversation's native lock held.
 */
final class Answer {
    /**
     * A turn to evaluate before the answer: a system prompt, an appended turn ({@code appended}: resent history,
     * rendered together with what follows it, as llama-server renders a whole message list), or the question itself.
     */
    record Turn(ChatMessage message, List<Image> images, boolean appended) {
    }

    private enum Phase { PREFILL, GENERATE, DONE }

    private final VisionLanguageModel model;
    private final ContextHandle context;
    private final SequenceState seq;
    private final Prefill prefill;
    private final List<Turn> turns;
    private final Sampler sampler;
    private final BooleanSupplier cancelled;
    private final SequenceState.Mark mark;
    private final int limit;
    private final ArrayDeque<String> ready = new ArrayDeque<>();
    private final StopStrings stops;
    private final Utf8Assembler utf8 = new Utf8Assembler();
    private int[] generated = new int[64]; // the tokens sampled, unboxed: the loop allocates only each piece's String
    private int generatedCount;
    private Phase phase = Phase.PREFILL;
    private StopReason reason;
    private boolean evaluated;
    private long start;
    private long end;
    private int pending;        // the token sampled and not yet handled
    private boolean hasPending;
    private int undecoded = -1; // a token whose piece went out before its decode: a piece is not a round late

    /** The last of {@code turns} is the question; the assistant's turn is opened after it. */
    Answer(VisionLanguageModel model, ContextHandle context, SequenceState seq, Prefill prefill, List<Turn> turns,
           Sampler sampler, SamplingOptions sampling, BooleanSupplier cancelled) {
        this.model = model;
        this.context = context;
        this.seq = seq;
        this.prefill = prefill;
        this.turns = turns;
        this.sampler = sampler;
        this.cancelled = cancelled;
        this.mark = seq.mark();
        this.limit = sampling.maxTokens() < 0 ? Integer.MAX_VALUE : sampling.maxTokens();
        this.stops = new StopStrings(sampling.stopStrings(), ready::add);
    }

    /** The next piece of the answer (never empty), or null once it has ended. */
    String next() {
        while (ready.isEmpty()) {
            switch (phase) {
                case PREFILL -> evaluate();
                case GENERATE -> generateOne();
                case DONE -> {
                    return null;
                }
            }
        }
        return ready.poll();
    }

    /** Whether the turns were all evaluated (then they belong to the conversation, whatever the answer did). */
    boolean evaluated() {
        return evaluated;
    }

    /** Ends the answer where it stands: the conversation keeps what was evaluated and generated so far. */
    Generation finish() {
        if (phase != Phase.DONE) {
            end(StopReason.CANCELLED);
        }
        if (evaluated) {
            seq.addTurn(new ChatMessage(Role.ASSISTANT.templateName(), detokenize()));
            seq.commit();
        }
        Duration took = start == 0 ? Duration.ZERO : Duration.ofNanos(end - start);
        return new Generation(stops.text(), reason, prefill.stats(generatedCount, took));
    }

    /** The answer as far as it got, touching no native state (its conversation is already closed). */
    Generation interrupted() {
        return new Generation(stops.text(), StopReason.CANCELLED, prefill.stats(generatedCount, Duration.ZERO));
    }

    /** The answer to a question that was cancelled before anything ran. */
    static Generation notStarted() {
        return new Generation("", StopReason.CANCELLED,
                new GenerationStats(0, 0, 0, Duration.ZERO, Duration.ZERO, Duration.ZERO, List.of(), 0, 0));
    }

    /** Undoes everything this question evaluated, as if it had never been asked. */
    void rollBack() {
        if (phase == Phase.GENERATE) {
            context.generating(false);
        }
        phase = Phase.DONE;
        evaluated = false;
        context.exclusive(() -> seq.rollBack(mark));
    }

    private void evaluate() {
        prefill.evaluate(turns, limit > 0 ? sampler : null);
        if (cancelled.getAsBoolean()) {
            rollBack();
            reason = StopReason.CANCELLED;
            return;
        }
        if (!prefill.hasLogits()) { // llama.cpp would sample stale logits, or abort on none
            throw new PromptException("the chat template rendered the question without a text token to answer"
                    + " from (it rendered to nothing, or ends in an image); check the template or its override");
        }
        pending = prefill.firstToken();
        hasPending = limit > 0;
        evaluated = true;
        phase = Phase.GENERATE;
        context.generating(true);
        start = System.nanoTime(); // llama-mtmd-cli builds its sampler at load time, outside its timings
    }

    /**
     * One half of a token's step: the sampled token's piece goes out (then {@link #next()} returns it), or the token
     * whose piece went out is decoded and the next one sampled. A cancel between the halves leaves that token out of
     * the KV cache, as a cancel that aborts its decode does.
     */
    private void generateOne() {
        if (cancelled.getAsBoolean()) {
            end(StopReason.CANCELLED);
            return;
        }
        if (undecoded >= 0) {
            decode(undecoded);
            undecoded = -1;
            return;
        }
        if (!hasPending) {
            end(StopReason.MAX_TOKENS);
            return;
        }
        int token = pending;
        hasPending = false;
        if (generatedCount == generated.length) {
            generated = Arrays.copyOf(generated, 2 * generatedCount);
        }
        generated[generatedCount++] = token;
        if (llama_vocab_is_eog(model.vocab(), token)) {
            end(StopReason.END_OF_GENERATION);
            return;
        }
        if (stops.add(piece(token))) {
            end(StopReason.STOP_STRING);
            return;
        }
        if (seq.cells() + 1 > context.contextSize()) {
            end(StopReason.CONTEXT_FULL);
            return;
        }
        undecoded = token;
    }

    private void decode(int token) {
        try {
            if (generatedCount < limit) {
                pending = context.decodeAndSample(token, seq.nPast(), sampler);
                hasPending = true;
            } else {
                context.decodeLast(token, seq.nPast()); // as llama-mtmd-cli, the last token too enters the cache
            }
        } catch (ContextHandle.DecodeFailedException e) {
            context.exclusive(seq::discardUndecoded);
            if (e.rc == 2 && cancelled.getAsBoolean()) {
                end(StopReason.CANCELLED);
                return;
            }
            throw new GenerationException(NativeLog.withRecent(e.getMessage() + " at position " + seq.nPast()));
        }
        seq.addGenerated(token);
    }

    private void end(StopReason why) {
        if (phase == Phase.DONE) {
            return;
        }
        if (phase == Phase.GENERATE) {
            context.generating(false);
        }
        phase = Phase.DONE;
        reason = why;
        end = System.nanoTime();
        if (why != StopReason.STOP_STRING) {
            stops.add(utf8.flush());
            stops.finish();
        }
    }

    /** The token's piece, joined to the bytes of a character the previous pieces left incomplete. */
    private String piece(int token) {
        MemorySegment buf = context.scratch(256);
        int n = llama_token_to_piece(model.vocab(), token, buf, (int) buf.byteSize(), 0, true);
        if (n < 0) {
            buf = context.scratch(-n);
            n = llama_token_to_piece(model.vocab(), token, buf, (int) buf.byteSize(), 0, true);
        }
        return utf8.add(buf, n);
    }

    /** The generated tokens as llama-mtmd-cli records them in its history (special tokens rendered). */
    private String detokenize() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ids = a.allocateFrom(ValueLayout.JAVA_INT, Arrays.copyOf(generated,
                    Math.max(1, generatedCount)));
            int len = Math.max(64, generatedCount * 16);
            MemorySegment buf = a.allocate(len);
            int n = llama_detokenize(model.vocab(), ids, generatedCount, buf, len, false, true);
            if (n < 0) {
                buf = a.allocate(-n);
                n = llama_detokenize(model.vocab(), ids, generatedCount, buf, -n, false, true);
            }
            return new String(buf.asSlice(0, Math.max(0, n)).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
        }
    }
}
