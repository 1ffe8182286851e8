package dev.qwenvl;

import dev.qwenvl.bindings.mtmd_helper_bitmap_wrapper;
import dev.qwenvl.bindings.mtmd_input_part;
import dev.qwenvl.bindings.mtmd_input_text;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;

import static dev.qwenvl.bindings.qwenvl_h.C_POINTER;
import static dev.qwenvl.bindings.qwenvl_h.MTMD_INPUT_CHUNK_TYPE_TEXT;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_batch_add_chunk;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_batch_encode;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_batch_free;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_batch_get_output_embd;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_batch_init;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_bitmap_free;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_bitmap_init;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_helper_bitmap_init_from_buf;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_helper_decode_image_chunk;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_helper_eval_chunk_single;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_helper_init_opt_default;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_input_chunk_get_n_tokens;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_input_chunk_get_type;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_input_chunks_free;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_input_chunks_get;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_input_chunks_init;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_input_chunks_size;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_tokenize_from_parts;

/**
 * Evaluates messages into a conversation's context exactly as llama-mtmd-cli's eval_message does: format with the
 * chat template, split on the media markers, tokenize with libmtmd, then decode text chunks and batch-encode and
 * decode image chunks. Keeps the counts and timings of one question, and whether its last decode left logits to
 * sample from. It never rolls back itself: the question's {@link Answer} does, to one mark.
 */
final class Prefill {
    private final VisionLanguageModel model;
    private final ContextHandle context;
    private final ChatTemplate template;
    private final ConversationOptions options;
    private final SequenceState seq;
    private final BooleanSupplier cancelled;
    private int textTokens;
    private int imageTokens;
    private long encodeNanos;
    private long evalNanos;
    private boolean logits;

    Prefill(VisionLanguageModel model, ContextHandle context, ChatTemplate template, ConversationOptions options,
            SequenceState seq, BooleanSupplier cancelled) {
        this.model = model;
        this.context = context;
        this.template = template;
        this.options = options;
        this.seq = seq;
        this.cancelled = cancelled;
    }

    /** Formats and evaluates one message; with {@code addAssistant} the assistant's turn is opened after it. */
    void evaluate(ChatMessage message, List<Image> images, boolean addAssistant) {
        logits = false;
        run(message, images, addAssistant);
    }

    /** Whether the last message evaluated ended with a decoded text token whose logits can be sampled. */
    boolean hasLogits() {
        return logits;
    }

    GenerationStats stats(int generated, Duration generation) {
        return new GenerationStats(textTokens, imageTokens, generated, Duration.ofNanos(encodeNanos),
                Duration.ofNanos(evalNanos - encodeNanos), generation);
    }

    private void run(ChatMessage message, List<Image> images, boolean addAssistant) {
        List<ChatMessage> turns = seq.turns();
        boolean addBos = turns.isEmpty();
        PromptPieces pieces = options.specialTokens() ? PromptPieces.special() : PromptPieces.plain(message.content());
        String formatted = template.formatSingle(turns,
                new ChatMessage(message.role(), pieces.templateContent(message.content())), addAssistant,
                options.useJinja());
        seq.addTurn(message);
        List<PromptPieces.Piece> cut = pieces.cut(formatted);
        long imageCount = cut.stream().filter(PromptPieces.Piece::isImage).count();
        if (imageCount != images.size()) {
            throw new PromptException("the formatted prompt holds " + imageCount + " image markers but "
                    + images.size() + " images were given");
        }
        try (Arena arena = Arena.ofConfined()) {
            List<MemorySegment> bitmaps = new ArrayList<>();
            MemorySegment chunks = mtmd_input_chunks_init();
            try {
                for (int i = 0; i < images.size(); i++) {
                    bitmaps.add(bitmap(images.get(i), i, arena));
                }
                MemorySegment parts = arena.allocate(C_POINTER, cut.size());
                int p = 0;
                for (PromptPieces.Piece piece : cut) {
                    MemorySegment part = mtmd_input_part.allocate(arena);
                    if (piece.isImage()) {
                        mtmd_input_part.text(part, MemorySegment.NULL);
                        mtmd_input_part.bitmap(part, bitmaps.get(piece.image()));
                    } else {
                        byte[] utf8 = piece.text().getBytes(StandardCharsets.UTF_8);
                        MemorySegment text = mtmd_input_text.allocate(arena);
                        mtmd_input_text.text(text, arena.allocateFrom(ValueLayout.JAVA_BYTE, nulTerminated(utf8)));
                        mtmd_input_text.text_len(text, utf8.length);
                        mtmd_input_text.add_special(text, false);
                        mtmd_input_text.parse_special(text, piece.special());
                        mtmd_input_part.text(part, text);
                        mtmd_input_part.bitmap(part, MemorySegment.NULL);
                    }
                    parts.setAtIndex(C_POINTER, p++, part);
                }
                int rc = mtmd_tokenize_from_parts(model.vision(), chunks, parts, p, addBos);
                if (rc != 0) {
                    throw new PromptException("libmtmd could not tokenize the message (code " + rc + ", "
                            + (rc == 1 ? "image count differs from the markers" : "an image could not be"
                            + " preprocessed") + ")");
                }
                decode(chunks);
            } finally {
                mtmd_input_chunks_free(chunks);
                bitmaps.forEach(b -> mtmd_bitmap_free(b));
            }
        }
    }

    private void decode(MemorySegment chunks) {
        long n = mtmd_input_chunks_size(chunks);
        long needed = 0;
        for (long i = 0; i < n; i++) {
            needed += mtmd_input_chunk_get_n_tokens(mtmd_input_chunks_get(chunks, i));
        }
        long free = context.contextSize() - seq.cells();
        if (needed + 1 > free) { // one cell must stay free for the first generated token
            throw new ContextOverflowException(needed + 1, free, context.contextSize());
        }
        long started = System.nanoTime();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment newNPast = arena.allocate(ValueLayout.JAVA_INT);
            for (long i = 0; i < n && !cancelled.getAsBoolean(); i++) {
                MemorySegment chunk = mtmd_input_chunks_get(chunks, i);
                long tokens = mtmd_input_chunk_get_n_tokens(chunk);
                if (mtmd_input_chunk_get_type(chunk) != MTMD_INPUT_CHUNK_TYPE_TEXT()) {
                    i += encodeAndDecodeImages(chunks, i, newNPast) - 1;
                    logits = false;
                    continue;
                }
                if (tokens == 0) {
                    continue; // nothing to decode; llama_decode refuses an empty batch
                }
                newNPast.set(ValueLayout.JAVA_INT, 0, seq.nPast());
                int rc = mtmd_helper_eval_chunk_single(model.vision(), context.ctx(), chunk, seq.nPast(), 0,
                        context.batchSize(), i == n - 1, newNPast);
                textTokens += (int) tokens;
                check(rc, "text");
                seq.advance(newNPast.get(ValueLayout.JAVA_INT, 0), tokens);
                logits = i == n - 1 && rc == 0;
            }
        } finally {
            evalNanos += System.nanoTime() - started;
        }
    }

    /**
     * Batch-encodes the run of image chunks starting at {@code first} (as llama-mtmd-cli does, a text chunk ends the
     * run) and decodes each into the context; returns how many chunks it consumed. Only the encode holds the model's
     * vision lock: the encoded embeddings belong to this call's mtmd batch, not to the shared mtmd context.
     */
    private int encodeAndDecodeImages(MemorySegment chunks, long first, MemorySegment newNPast) {
        long n = mtmd_input_chunks_size(chunks);
        MemorySegment mbatch = mtmd_batch_init(model.vision());
        try {
            int added = 0;
            model.visionLock().lock();
            try {
                for (long j = first; j < n; j++) {
                    MemorySegment c = mtmd_input_chunks_get(chunks, j);
                    if (mtmd_input_chunk_get_type(c) == MTMD_INPUT_CHUNK_TYPE_TEXT()
                            || mtmd_batch_add_chunk(mbatch, c) != 0) {
                        break;
                    }
                    added++;
                }
                if (added == 0) {
                    throw new ImageException("libmtmd cannot encode image chunk " + first + " of the message");
                }
                long t0 = System.nanoTime();
                int rc = mtmd_batch_encode(mbatch);
                encodeNanos += System.nanoTime() - t0;
                check(rc, "image encoding");
            } finally {
                model.visionLock().unlock();
            }
            for (long j = first; j < first + added && !cancelled.getAsBoolean(); j++) {
                MemorySegment chunk = mtmd_input_chunks_get(chunks, j);
                MemorySegment embd = mtmd_batch_get_output_embd(mbatch, chunk);
                if (NativeRuntime.isNull(embd)) {
                    throw new GenerationException("libmtmd produced no embeddings for image chunk " + j);
                }
                long tokens = mtmd_input_chunk_get_n_tokens(chunk);
                newNPast.set(ValueLayout.JAVA_INT, 0, seq.nPast());
                int rc = mtmd_helper_decode_image_chunk(model.vision(), context.ctx(), chunk, embd, seq.nPast(), 0,
                        context.batchSize(), newNPast, MemorySegment.NULL, MemorySegment.NULL);
                check(rc, "image");
                imageTokens += (int) tokens;
                seq.advance(newNPast.get(ValueLayout.JAVA_INT, 0), tokens);
            }
            return added;
        } finally {
            mtmd_batch_free(mbatch);
        }
    }

    private void check(int rc, String what) {
        if (rc != 0 && !cancelled.getAsBoolean()) {
            throw new GenerationException(NativeLog.withRecent("evaluating the " + what + " failed with code " + rc));
        }
    }

    private MemorySegment bitmap(Image image, int index, Arena arena) {
        MemorySegment b;
        if (image.isEncoded()) {
            byte[] bytes = image.encodedBytes();
            MemorySegment buf = arena.allocateFrom(ValueLayout.JAVA_BYTE, bytes);
            MemorySegment opt = mtmd_helper_init_opt_default(arena);
            MemorySegment wrapper = mtmd_helper_bitmap_init_from_buf(arena, model.vision(), buf, bytes.length, false,
                    opt);
            b = mtmd_helper_bitmap_wrapper.bitmap(wrapper);
        } else {
            b = mtmd_bitmap_init(image.width(), image.height(),
                    arena.allocateFrom(ValueLayout.JAVA_BYTE, image.rgbUnsafe()));
        }
        if (NativeRuntime.isNull(b)) {
            throw new ImageException(NativeLog.withRecent("image " + (index + 1) + " of the message could not be"
                    + " decoded by libmtmd"));
        }
        return b;
    }

    private static byte[] nulTerminated(byte[] utf8) {
        return java.util.Arrays.copyOf(utf8, utf8.length + 1);
    }
}
