package dev.qwenvl;

import dev.qwenvl.bindings.mtmd_input_part;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static dev.qwenvl.bindings.qwenvl_h.C_POINTER;
import static dev.qwenvl.bindings.qwenvl_h.MTMD_INPUT_CHUNK_TYPE_IMAGE;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_bitmap_free;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_bitmap_get_nx;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_bitmap_get_ny;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_image_tokens_get_nx;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_image_tokens_get_ny;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_input_chunk_get_tokens_image;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_input_chunk_get_type;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_input_chunks_free;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_input_chunks_get;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_input_chunks_init;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_input_chunks_size;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_tokenize_from_parts;

/** Reads what libmtmd decided about an image from its tokenized chunk: the token grid, hence the frame. */
final class ImageChunks {
    private ImageChunks() {
    }

    /** The geometry of the image chunk {@code chunk}, tokenized from {@code bitmap}. */
    static ImageGeometry geometry(MemorySegment chunk, MemorySegment bitmap, int patchSize) {
        MemorySegment tokens = mtmd_input_chunk_get_tokens_image(chunk);
        if (NativeRuntime.isNull(tokens)) {
            throw new ImageException("libmtmd returned an image chunk without image tokens");
        }
        return ImageGeometry.padCeil(mtmd_bitmap_get_nx(bitmap), mtmd_bitmap_get_ny(bitmap),
                Math.toIntExact(mtmd_image_tokens_get_nx(tokens)), Math.toIntExact(mtmd_image_tokens_get_ny(tokens)),
                patchSize);
    }

    /**
     * Tokenizes {@code image} alone, without encoding it, and reports the geometry libmtmd chose for it; the caller
     * holds the model's vision lock.
     */
    static ImageGeometry tokenizeOnly(VisionLanguageModel model, Image image) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment bitmap = TokenizedTurn.bitmap(model, image, 0, arena);
            MemorySegment chunks = mtmd_input_chunks_init();
            try {
                MemorySegment part = mtmd_input_part.allocate(arena);
                mtmd_input_part.text(part, MemorySegment.NULL);
                mtmd_input_part.bitmap(part, bitmap);
                MemorySegment parts = arena.allocate(C_POINTER, 1);
                parts.setAtIndex(C_POINTER, 0, part);
                int rc = mtmd_tokenize_from_parts(model.vision(), chunks, parts, 1, false);
                if (rc != 0) {
                    throw new ImageException(NativeLog.withRecent("libmtmd could not preprocess " + image
                            + " (code " + rc + ")"));
                }
                for (long i = 0; i < mtmd_input_chunks_size(chunks); i++) {
                    MemorySegment chunk = mtmd_input_chunks_get(chunks, i);
                    if (mtmd_input_chunk_get_type(chunk) == MTMD_INPUT_CHUNK_TYPE_IMAGE()) {
                        return geometry(chunk, bitmap, model.patchSize());
                    }
                }
                throw new ImageException("libmtmd produced no image chunk for " + image);
            } finally {
                mtmd_input_chunks_free(chunks);
                mtmd_bitmap_free(bitmap);
            }
        }
    }
}
