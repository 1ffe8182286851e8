package dev.qwenvl;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;

import static dev.qwenvl.bindings.qwenvl_h.MTMD_INPUT_CHUNK_TYPE_IMAGE;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_batch_add_chunk;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_batch_encode;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_batch_free;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_batch_get_output_embd;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_batch_init;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_helper_decode_image_chunk;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_input_chunk_get_n_tokens;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_input_chunk_get_type;

/**
 * Evaluates a question's turns into a conversation's context as llama-mtmd-cli's eval_message does: every turn is
 * rendered and tokenized first ({@link TokenizedTurn}); a fresh conversation then takes over the longest prefix the
 * model's {@link PrefixCache} holds; the rest is decoded, text chunks in n_batch pieces as libmtmd's helper does (in
 * the shared rounds, where sequences share a context) and runs of image chunks batch-encoded (or taken from the
 * image-embedding cache) then decoded. Keeps the question's counts and timings, and
 * whether its last decode left logits to sample from. It never rolls back itself: the {@link Answer} does, to one
 * mark.
 */
final class Prefill {
    private final VisionLanguageModel model;
    private final ContextHandle context;
    private final ChatTemplate template;
    private final ConversationOptions options;
    private final SequenceState seq;
    private final BooleanSupplier cancelled;
    private final List<ImageGeometry> geometries = new ArrayList<>();
    private int textTokens;
    private int imageTokens;
    private int cachedTokens;
    private int cachedImages;
    private long encodeNanos;
    private long evalNanos;
    private boolean logits;
    private Sampler sampler;
    private int firstToken = -1;

    Prefill(VisionLanguageModel model, ContextHandle context, ChatTemplate template, ConversationOptions options,
            SequenceState seq, BooleanSupplier cancelled) {
        this.model = model;
        this.context = context;
        this.template = template;
        this.options = options;
        this.seq = seq;
        this.cancelled = cancelled;
    }

    /**
     * Evaluates the turns in order; the assistant's turn is opened after the last. With a {@code sampler}, the
     * answer's first token is sampled right after the last decode, before another sequence's decode can replace its
     * logits ({@link #firstToken()}).
     */
    void evaluate(List<Answer.Turn> turns, Sampler sampler) {
        this.sampler = sampler;
        List<TokenizedTurn> tokenized = new ArrayList<>();
        try {
            for (int i = 0; i < turns.size(); i++) {
                Answer.Turn t = turns.get(i);
                String renderedBefore = i > 0 && turns.get(i - 1).appended() ? tokenized.getLast().formatted() : null;
                TokenizedTurn tt = new TokenizedTurn(model, template, options, seq, t.message(), t.images(),
                        i == turns.size() - 1, renderedBefore);
                tokenized.add(tt);
                recordGeometries(tt);
            }
            int skip = seq.cells() == 0 ? takeCachedPrefix(tokenized) : 0;
            for (TokenizedTurn tt : tokenized) {
                if (cancelled.getAsBoolean()) {
                    return;
                }
                skip = decode(tt, skip);
            }
        } finally {
            tokenized.forEach(TokenizedTurn::close);
        }
    }

    /** Whether the last turn evaluated ended with a decoded text token whose logits can be sampled. */
    boolean hasLogits() {
        return logits;
    }

    /** The answer's first token, sampled after the last decode; -1 if none was (no sampler, or no logits). */
    int firstToken() {
        return firstToken;
    }

    GenerationStats stats(int generated, Duration generation) {
        return new GenerationStats(textTokens, imageTokens, generated, Duration.ofNanos(encodeNanos),
                Duration.ofNanos(evalNanos - encodeNanos), generation, List.copyOf(geometries), cachedImages,
                cachedTokens);
    }

    /**
     * Restores the longest cached prefix of what these turns put into the KV cache, leaving at least the last text
     * token to decode (its logits start the answer); returns how many items it covers.
     */
    private int takeCachedPrefix(List<TokenizedTurn> tokenized) {
        List<SequenceState.Item> wanted = new ArrayList<>();
        tokenized.forEach(t -> wanted.addAll(t.items()));
        return context.exclusive(() -> {
            int covered = model.prefixCache().restoreLongest(context.ctx(), context.seqId(), wanted,
                    wanted.size() - 1);
            if (covered > 0) {
                seq.adopt(wanted.subList(0, covered));
                cachedTokens = (int) seq.cells();
            }
            return covered;
        });
    }

    /** The image chunks come in the order of the turn's images, one each. */
    private void recordGeometries(TokenizedTurn turn) {
        int image = 0;
        for (long i = 0; i < turn.size(); i++) {
            MemorySegment chunk = turn.chunk(i);
            if (mtmd_input_chunk_get_type(chunk) == MTMD_INPUT_CHUNK_TYPE_IMAGE()) {
                geometries.add(ImageChunks.geometry(chunk, turn.bitmaps().get(image++), model.patchSize()));
            }
        }
    }

    /** Decodes a turn, skipping its first {@code skip} items (already in the KV cache); returns the skip left. */
    private int decode(TokenizedTurn turn, int skip) {
        long n = turn.size();
        long needed = turn.tokens();
        long free = context.contextSize() - seq.cells();
        if (needed - Math.min(skip, needed) + 1 > free) { // one cell must stay free for the first generated token
            throw new ContextOverflowException(needed + 1, free, context.contextSize());
        }
        long started = System.nanoTime();
        logits = false;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment newNPast = arena.allocate(ValueLayout.JAVA_INT);
            for (long i = 0; i < n && !cancelled.getAsBoolean(); i++) {
                MemorySegment chunk = turn.chunk(i);
                long tokens = mtmd_input_chunk_get_n_tokens(chunk);
                if (!TokenizedTurn.isText(chunk)) {
                    if (skip > 0) {
                        skip--;
                        imageTokens += (int) tokens;
                        continue;
                    }
                    i += encodeAndDecodeImages(turn, i, newNPast) - 1;
                    logits = false;
                    continue;
                }
                textTokens += (int) tokens;
                if (skip >= tokens) {
                    skip -= (int) tokens;
                    continue;
                }
                int[] ids = TokenizedTurn.textTokens(chunk);
                boolean last = i == n - 1;
                try { // as libmtmd's helper decodes a text chunk; a shared context batches it with other sequences
                    firstToken = context.decodeText(ids, skip, seq.nPast(), last, last ? sampler : null);
                } catch (ContextHandle.DecodeFailedException e) {
                    firstToken = -1;
                    if (!cancelled.getAsBoolean()) {
                        throw new GenerationException(NativeLog.withRecent("evaluating the text failed: "
                                + e.getMessage()));
                    }
                }
                seq.addText(ids, skip, seq.nPast() + ids.length - skip);
                skip = 0;
                logits = i == n - 1;
            }
        } finally {
            evalNanos += System.nanoTime() - started;
        }
        return skip;
    }

    /**
     * Decodes the image chunk at {@code first} from the model's image-embedding cache, or batch-encodes the run of
     * uncached image chunks starting there (as llama-mtmd-cli does; a text chunk or a cached image ends the run),
     * caches and decodes each; returns how many chunks it consumed. Only the encode holds the model's vision lock:
     * the encoded embeddings belong to this call's mtmd batch, not to the shared mtmd context.
     */
    private int encodeAndDecodeImages(TokenizedTurn turn, long first, MemorySegment newNPast) {
        long n = turn.size();
        MemorySegment cached = model.imageCache().get(TokenizedTurn.contentKey(turn.chunk(first)));
        if (cached != null) {
            decodeImage(turn.chunk(first), cached, newNPast);
            cachedImages++;
            return 1;
        }
        MemorySegment mbatch = mtmd_batch_init(model.vision());
        try {
            int added = 0;
            model.visionLock().lock();
            try {
                for (long j = first; j < n; j++) {
                    MemorySegment c = turn.chunk(j);
                    if (TokenizedTurn.isText(c) || j > first && model.imageCache().contains(TokenizedTurn.contentKey(c))
                            || mtmd_batch_add_chunk(mbatch, c) != 0) {
                        break;
                    }
                    added++;
                }
                if (added == 0) {
                    throw new ImageException("libmtmd cannot encode image chunk " + first + " of the message");
                }
                long tokens = 0; // Qwen's encoders take one image a batch; with more, the largest sizes the buffers
                for (long j = first; j < first + added; j++) {
                    tokens = Math.max(tokens, mtmd_input_chunk_get_n_tokens(turn.chunk(j)));
                }
                model.admitImage((int) tokens, "image chunk " + first + " of the message");
                long t0 = System.nanoTime();
                int rc = mtmd_batch_encode(mbatch);
                encodeNanos += System.nanoTime() - t0;
                check(rc, "image encoding");
            } finally {
                model.visionLock().unlock();
            }
            for (long j = first; j < first + added && !cancelled.getAsBoolean(); j++) {
                MemorySegment chunk = turn.chunk(j);
                MemorySegment embd = mtmd_batch_get_output_embd(mbatch, chunk);
                if (NativeRuntime.isNull(embd)) {
                    throw new GenerationException("libmtmd produced no embeddings for image chunk " + j);
                }
                embd = embd.reinterpret(4L * model.embeddingLength() * mtmd_input_chunk_get_n_tokens(chunk));
                model.imageCache().put(TokenizedTurn.contentKey(chunk), embd);
                decodeImage(chunk, embd, newNPast);
            }
            return added;
        } finally {
            mtmd_batch_free(mbatch);
        }
    }

    private void decodeImage(MemorySegment chunk, MemorySegment embd, MemorySegment newNPast) {
        newNPast.set(ValueLayout.JAVA_INT, 0, seq.nPast());
        int rc = context.exclusive(() -> mtmd_helper_decode_image_chunk(model.vision(), context.ctx(), chunk, embd,
                seq.nPast(), context.seqId(), context.batchSize(), newNPast, MemorySegment.NULL, MemorySegment.NULL));
        check(rc, "image");
        int tokens = (int) mtmd_input_chunk_get_n_tokens(chunk);
        imageTokens += tokens;
        seq.addImage(TokenizedTurn.contentKey(chunk), tokens, newNPast.get(ValueLayout.JAVA_INT, 0));
    }

    private void check(int rc, String what) {
        if (rc != 0 && !cancelled.getAsBoolean()) {
            throw new GenerationException(NativeLog.withRecent("evaluating the " + what + " failed with code " + rc));
        }
    }
}
