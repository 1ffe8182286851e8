package dev.qwenvl;

import dev.qwenvl.bindings.mtmd_helper_bitmap_wrapper;
import dev.qwenvl.bindings.mtmd_input_part;
import dev.qwenvl.bindings.mtmd_input_text;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static dev.qwenvl.bindings.qwenvl_h.C_POINTER;
import static dev.qwenvl.bindings.qwenvl_h.MTMD_INPUT_CHUNK_TYPE_TEXT;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_bitmap_free;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_bitmap_init;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_bitmap_set_id;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_helper_bitmap_init_from_buf;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_helper_init_opt_default;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_input_chunk_get_id;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_input_chunk_get_n_pos;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_input_chunk_get_n_tokens;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_input_chunk_get_tokens_text;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_input_chunk_get_type;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_input_chunks_free;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_input_chunks_get;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_input_chunks_init;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_input_chunks_size;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_tokenize_from_parts;

/**
 * One turn rendered by the chat template and tokenized by libmtmd exactly as llama-mtmd-cli's eval_message does:
 * format, split on the media markers (and around plain message text), then {@code mtmd_tokenize_from_parts}. Owns
 * the native chunks and bitmaps until closed.
 */
final class TokenizedTurn implements AutoCloseable {
    private final Arena arena = Arena.ofConfined();
    private final MemorySegment chunks = mtmd_input_chunks_init();
    private final List<MemorySegment> bitmaps = new ArrayList<>();
    private final String formatted;

    /**
     * Renders {@code message} after the turns already in {@code seq} and adds it to them, then tokenizes it.
     * {@code renderedBefore} is the previous turn's text when it went into the KV cache as rendered, in this same
     * evaluation (resent history), or null when the past ends with a generated answer or a turn evaluated on its own.
     */
    TokenizedTurn(VisionLanguageModel model, ChatTemplate template, ConversationOptions options, SequenceState seq,
                  ChatMessage message, List<Image> images, boolean addAssistant, String renderedBefore) {
        try {
            boolean addBos = seq.turns().isEmpty();
            PromptPieces pieces = options.specialTokens() ? PromptPieces.special()
                    : PromptPieces.plain(message.content());
            String single = template.formatSingle(seq.turns(),
                    new ChatMessage(message.role(), pieces.templateContent(message.content())), addAssistant,
                    options.useJinja());
            // format_single re-adds a past's final newline (a generated answer lacks it); a rendered past holds it
            formatted = addAssistant && renderedBefore != null && renderedBefore.endsWith("\n") ? single.substring(1)
                    : single;
            seq.addTurn(message);
            List<PromptPieces.Piece> cut = pieces.cut(formatted);
            long imageCount = cut.stream().filter(PromptPieces.Piece::isImage).count();
            if (imageCount != images.size()) {
                throw new PromptException("the formatted prompt holds " + imageCount + " image markers but "
                        + images.size() + " images were given");
            }
            for (int i = 0; i < images.size(); i++) {
                bitmaps.add(bitmap(model, images.get(i), i, arena));
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
                    mtmd_input_text.text(text, arena.allocateFrom(ValueLayout.JAVA_BYTE,
                            Arrays.copyOf(utf8, utf8.length + 1)));
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
        } catch (RuntimeException | Error e) {
            close();
            throw e;
        }
    }

    /** The template's text for this turn (plain message text stands as placeholders in it). */
    String formatted() {
        return formatted;
    }

    long size() {
        return mtmd_input_chunks_size(chunks);
    }

    MemorySegment chunk(long i) {
        return mtmd_input_chunks_get(chunks, i);
    }

    List<MemorySegment> bitmaps() {
        return bitmaps;
    }

    /** Cells the turn needs in the KV cache. */
    long tokens() {
        long n = 0;
        for (long i = 0; i < size(); i++) {
            n += mtmd_input_chunk_get_n_tokens(chunk(i));
        }
        return n;
    }

    /** What the turn puts into the KV cache, item by item, to compare with cached prefixes. */
    List<SequenceState.Item> items() {
        List<SequenceState.Item> items = new ArrayList<>();
        for (long i = 0; i < size(); i++) {
            MemorySegment c = chunk(i);
            if (isText(c)) {
                for (int t : textTokens(c)) {
                    items.add(SequenceState.Item.text(t));
                }
            } else {
                items.add(SequenceState.Item.image(contentKey(c), (int) mtmd_input_chunk_get_n_tokens(c),
                        mtmd_input_chunk_get_n_pos(c)));
            }
        }
        return items;
    }

    static boolean isText(MemorySegment chunk) {
        return mtmd_input_chunk_get_type(chunk) == MTMD_INPUT_CHUNK_TYPE_TEXT();
    }

    static int[] textTokens(MemorySegment chunk) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment n = a.allocate(ValueLayout.JAVA_LONG);
            MemorySegment tokens = mtmd_input_chunk_get_tokens_text(chunk, n);
            long count = n.get(ValueLayout.JAVA_LONG, 0);
            return count == 0 ? new int[0] : tokens.reinterpret(4 * count).toArray(ValueLayout.JAVA_INT);
        }
    }

    /** An image chunk's content id (libmtmd's SHA-256 id) with its token count; "" for an image without an id. */
    static String contentKey(MemorySegment chunk) {
        MemorySegment id = mtmd_input_chunk_get_id(chunk);
        String digest = NativeRuntime.isNull(id) ? "" : id.reinterpret(256).getString(0);
        return digest.isEmpty() ? "" : digest + "/" + mtmd_input_chunk_get_n_tokens(chunk);
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
            if (!NativeRuntime.isNull(b)) {
                mtmd_bitmap_set_id(b, arena.allocateFrom(image.pixelDigest()));
            }
        }
        if (NativeRuntime.isNull(b)) {
            throw new ImageException(NativeLog.withRecent("image " + (index + 1) + " of the message could not be"
                    + " decoded by libmtmd"));
        }
        return b;
    }

    @Override
    public void close() {
        mtmd_input_chunks_free(chunks);
        bitmaps.forEach(b -> mtmd_bitmap_free(b));
        bitmaps.clear();
        arena.close();
    }
}
