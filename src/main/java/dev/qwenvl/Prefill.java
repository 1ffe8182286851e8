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

import static dev.qwenvl.bindings.qwenvl_h.C_POINTER;
import static dev.qwenvl.bindings.qwenvl_h.MTMD_INPUT_CHUNK_TYPE_IMAGE;
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
 * decode image chunks. Keeps the counts and timings of one question, and can undo it.
 */
final class Prefill {
    private final Conversation conversation;
    private final int startNPast;
    private final long startKv;
    private final int startTurns;
    private int textTokens;
    private int imageTokens;
    private long encodeNanos;
    private long evalNanos;
    private final List<ImageGeometry> geometries = new ArrayList<>();

    Prefill(Conversation conversation) {
        this.conversation = conversation;
        this.startNPast = conversation.nPast();
        this.startKv = conversation.kvTokens();
        this.startTurns = conversation.turns().size();
    }

    /** Formats and evaluates one message; on failure the conversation is left as it was before this question. */
    void evaluate(ChatMessage message, List<Image> images, boolean addAssistant) {
        try {
            run(message, images, addAssistant);
        } catch (RuntimeException | Error e) {
            rollBack();
            throw e;
        }
    }

    /** Undoes every message this question evaluated. */
    void rollBack() {
        List<ChatMessage> turns = conversation.turns();
        turns.subList(startTurns, turns.size()).clear();
        conversation.restore(startNPast, startKv);
    }

    GenerationStats stats(int generated, Duration generation) {
        return new GenerationStats(textTokens, imageTokens, generated, Duration.ofNanos(encodeNanos),
                Duration.ofNanos(evalNanos - encodeNanos), generation, List.copyOf(geometries));
    }

    private void run(ChatMessage message, List<Image> images, boolean addAssistant) {
        VisionLanguageModel model = conversation.model();
        List<ChatMessage> turns = conversation.turns();
        boolean addBos = turns.isEmpty();
        String formatted = conversation.template().formatSingle(turns, message, addAssistant,
                conversation.options().useJinja());
        turns.add(message);
        List<String> segments = split(formatted);
        if (segments.size() - 1 != images.size()) {
            throw new PromptException("the formatted prompt holds " + (segments.size() - 1) + " image markers but "
                    + images.size() + " images were given");
        }
        try (Arena arena = Arena.ofConfined()) {
            List<MemorySegment> bitmaps = new ArrayList<>();
            MemorySegment chunks = mtmd_input_chunks_init();
            try {
                for (int i = 0; i < images.size(); i++) {
                    bitmaps.add(bitmap(model, images.get(i), i, arena));
                }
                MemorySegment parts = arena.allocate(C_POINTER, segments.size() + images.size());
                int p = 0;
                for (int i = 0; i < segments.size(); i++) {
                    byte[] utf8 = segments.get(i).getBytes(StandardCharsets.UTF_8);
                    MemorySegment text = mtmd_input_text.allocate(arena);
                    mtmd_input_text.text(text, arena.allocateFrom(ValueLayout.JAVA_BYTE, nulTerminated(utf8)));
                    mtmd_input_text.text_len(text, utf8.length);
                    mtmd_input_text.add_special(text, false);
                    mtmd_input_text.parse_special(text, true);
                    MemorySegment part = mtmd_input_part.allocate(arena);
                    mtmd_input_part.text(part, text);
                    mtmd_input_part.bitmap(part, MemorySegment.NULL);
                    parts.setAtIndex(C_POINTER, p++, part);
                    if (i < images.size()) {
                        MemorySegment imagePart = mtmd_input_part.allocate(arena);
                        mtmd_input_part.text(imagePart, MemorySegment.NULL);
                        mtmd_input_part.bitmap(imagePart, bitmaps.get(i));
                        parts.setAtIndex(C_POINTER, p++, imagePart);
                    }
                }
                int rc;
                model.visionLock().lock();
                try {
                    rc = mtmd_tokenize_from_parts(model.vision(), chunks, parts, p, addBos);
                } finally {
                    model.visionLock().unlock();
                }
                if (rc != 0) {
                    throw new PromptException("libmtmd could not tokenize the message (code " + rc + ", "
                            + (rc == 1 ? "image count differs from the markers" : "an image could not be"
                            + " preprocessed") + ")");
                }
                recordGeometries(chunks, bitmaps, model.patchSize());
                decode(chunks);
            } finally {
                mtmd_input_chunks_free(chunks);
                bitmaps.forEach(b -> mtmd_bitmap_free(b));
            }
        }
    }

    /** The image chunks come in the order of the message's images, one each. */
    private void recordGeometries(MemorySegment chunks, List<MemorySegment> bitmaps, int patchSize) {
        int image = 0;
        for (long i = 0; i < mtmd_input_chunks_size(chunks); i++) {
            MemorySegment chunk = mtmd_input_chunks_get(chunks, i);
            if (mtmd_input_chunk_get_type(chunk) == MTMD_INPUT_CHUNK_TYPE_IMAGE()) {
                geometries.add(ImageChunks.geometry(chunk, bitmaps.get(image++), patchSize));
            }
        }
    }

    private void decode(MemorySegment chunks) {
        VisionLanguageModel model = conversation.model();
        MemorySegment ctx = conversation.context();
        long n = mtmd_input_chunks_size(chunks);
        long needed = 0;
        for (long i = 0; i < n; i++) {
            needed += mtmd_input_chunk_get_n_tokens(mtmd_input_chunks_get(chunks, i));
        }
        long free = conversation.contextSize() - conversation.kvTokens();
        if (needed + 1 > free) { // one cell must stay free for the first generated token
            throw new ContextOverflowException(needed + 1, free, conversation.contextSize());
        }
        long started = System.nanoTime();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment newNPast = arena.allocate(ValueLayout.JAVA_INT);
            for (long i = 0; i < n && !conversation.isCancelled(); i++) {
                MemorySegment chunk = mtmd_input_chunks_get(chunks, i);
                long tokens = mtmd_input_chunk_get_n_tokens(chunk);
                newNPast.set(ValueLayout.JAVA_INT, 0, conversation.nPast());
                int rc;
                if (mtmd_input_chunk_get_type(chunk) == MTMD_INPUT_CHUNK_TYPE_TEXT()) {
                    rc = mtmd_helper_eval_chunk_single(model.vision(), ctx, chunk, conversation.nPast(), 0,
                            conversation.batchSize(), i == n - 1, newNPast);
                    textTokens += (int) tokens;
                } else {
                    i += encodeAndDecodeImages(chunks, i, newNPast) - 1;
                    continue;
                }
                check(rc, "text");
                conversation.advance(newNPast.get(ValueLayout.JAVA_INT, 0), tokens);
            }
        } finally {
            evalNanos += System.nanoTime() - started;
        }
    }

    /**
     * Batch-encodes the run of image chunks starting at {@code first} (as llama-mtmd-cli does, a text chunk ends the
     * run) and decodes each into the context; returns how many chunks it consumed.
     */
    private int encodeAndDecodeImages(MemorySegment chunks, long first, MemorySegment newNPast) {
        VisionLanguageModel model = conversation.model();
        long n = mtmd_input_chunks_size(chunks);
        model.visionLock().lock();
        MemorySegment mbatch = mtmd_batch_init(model.vision());
        try {
            int added = 0;
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
            for (long j = first; j < first + added; j++) {
                MemorySegment chunk = mtmd_input_chunks_get(chunks, j);
                MemorySegment embd = mtmd_batch_get_output_embd(mbatch, chunk);
                if (NativeRuntime.isNull(embd)) {
                    throw new GenerationException("libmtmd produced no embeddings for image chunk " + j);
                }
                long tokens = mtmd_input_chunk_get_n_tokens(chunk);
                newNPast.set(ValueLayout.JAVA_INT, 0, conversation.nPast());
                int rc2 = mtmd_helper_decode_image_chunk(model.vision(), conversation.context(), chunk, embd,
                        conversation.nPast(), 0, conversation.batchSize(), newNPast, MemorySegment.NULL,
                        MemorySegment.NULL);
                check(rc2, "image");
                imageTokens += (int) tokens;
                conversation.advance(newNPast.get(ValueLayout.JAVA_INT, 0), tokens);
            }
            return added;
        } finally {
            mtmd_batch_free(mbatch);
            model.visionLock().unlock();
        }
    }

    private void check(int rc, String what) {
        if (rc != 0 && !conversation.isCancelled()) {
            throw new GenerationException(NativeLog.withRecent("evaluating the " + what + " failed with code " + rc));
        }
    }

    static MemorySegment bitmap(VisionLanguageModel model, Image image, int index, Arena arena) {
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

    private static List<String> split(String formatted) {
        List<String> segments = new ArrayList<>();
        int start = 0;
        for (int at = formatted.indexOf(ChatMessage.MEDIA_MARKER); at >= 0;
             at = formatted.indexOf(ChatMessage.MEDIA_MARKER, start)) {
            segments.add(formatted.substring(start, at));
            start = at + ChatMessage.MEDIA_MARKER.length();
        }
        segments.add(formatted.substring(start));
        return segments;
    }
}
