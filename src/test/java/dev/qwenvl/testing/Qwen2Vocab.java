package dev.qwenvl.testing;

import static dev.qwenvl.bindings.qwenvl_h.*;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import dev.qwenvl.bindings.gguf_init_params;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The real Qwen2 tokenizer, read from llama.cpp's {@code models/ggml-vocab-qwen2.gguf}, with ids 151646-151664
 * (placeholders there) replaced by Qwen2.5-VL's added tokens so that {@code <|vision_start|>} and friends are single
 * special tokens (notes §3.1).
 */
final class Qwen2Vocab implements AutoCloseable {
    /** Rows of token_embd / output: the full Qwen2 vocabulary. */
    static final int SIZE = 151936;
    static final int IM_END = 151645;
    static final int FIRST_ADDED = 151646;
    private static final int LAST_CONTROL = 151656;
    private static final int TYPE_CONTROL = 3;
    private static final int TYPE_USER_DEFINED = 4;
    /** Qwen2.5-VL's added tokens from id 151646 on. */
    static final List<String> ADDED = List.of(
            "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>", "<|box_end|>", "<|quad_start|>",
            "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>",
            "<|video_pad|>", "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
            "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>");

    private final Arena arena = Arena.ofConfined();
    private final Path file;
    private final MemorySegment src;

    /** Opens {@code models/ggml-vocab-qwen2.gguf} under the llama.cpp source tree. */
    Qwen2Vocab(Path llamaSource) {
        this.file = llamaSource.resolve("models/ggml-vocab-qwen2.gguf");
        if (!Files.isRegularFile(file)) {
            arena.close();
            throw new IllegalStateException("no Qwen2 vocabulary at " + file + ": set the system property"
                    + " qwenvl.llama.src to the pinned llama.cpp source directory");
        }
        MemorySegment params = gguf_init_params.allocate(arena);
        gguf_init_params.no_alloc(params, true);
        gguf_init_params.ctx(params, MemorySegment.NULL);
        this.src = gguf_init_from_file(arena.allocateFrom(file.toString()), params);
        if (src.equals(MemorySegment.NULL)) {
            arena.close();
            throw new IllegalStateException("gguf_init_from_file failed on " + file);
        }
    }

    /** Writes the tokenizer.ggml.* keys (model, pre, tokens, token_type, merges, special ids) into {@code out}. */
    void copyInto(GgufWriter out) {
        out.putString("tokenizer.ggml.model", string("tokenizer.ggml.model"));
        out.putString("tokenizer.ggml.pre", string("tokenizer.ggml.pre"));

        MemorySegment tokens = stringPointers("tokenizer.ggml.tokens", SIZE);
        int[] types = int32s("tokenizer.ggml.token_type", SIZE);
        for (int i = 0; i < ADDED.size(); i++) {
            int id = FIRST_ADDED + i;
            tokens.setAtIndex(ADDRESS, id, arena.allocateFrom(ADDED.get(i)));
            types[id] = id <= LAST_CONTROL ? TYPE_CONTROL : TYPE_USER_DEFINED;
        }
        out.putStrings("tokenizer.ggml.tokens", tokens, SIZE);
        out.putI32s("tokenizer.ggml.token_type", types);

        long merges = arrayLength("tokenizer.ggml.merges", GGUF_TYPE_STRING());
        out.putStrings("tokenizer.ggml.merges", stringPointers("tokenizer.ggml.merges", merges), merges);

        out.putU32("tokenizer.ggml.bos_token_id", u32("tokenizer.ggml.bos_token_id"));
        out.putU32("tokenizer.ggml.eos_token_id", IM_END); // as Qwen2.5-VL-Instruct's converted GGUFs have it
        out.putU32("tokenizer.ggml.padding_token_id", u32("tokenizer.ggml.padding_token_id"));
        out.putBool("tokenizer.ggml.add_bos_token", false);
    }

    private long key(String name, int type) {
        long id = gguf_find_key(src, arena.allocateFrom(name));
        if (id < 0) {
            throw new IllegalStateException(file + " has no key " + name);
        }
        int actual = gguf_get_kv_type(src, id);
        if (actual != type) {
            throw new IllegalStateException(file + ": key " + name + " has gguf type " + actual + ", expected "
                    + type);
        }
        return id;
    }

    private String string(String name) {
        return gguf_get_val_str(src, key(name, GGUF_TYPE_STRING())).getString(0);
    }

    private int u32(String name) {
        return gguf_get_val_u32(src, key(name, GGUF_TYPE_UINT32()));
    }

    private long arrayLength(String name, int elementType) {
        long id = key(name, GGUF_TYPE_ARRAY());
        if (gguf_get_arr_type(src, id) != elementType) {
            throw new IllegalStateException(file + ": array " + name + " does not hold gguf type " + elementType);
        }
        return gguf_get_arr_n(src, id);
    }

    /** The C-string pointers of a string array, pointing into the source context (gguf copies them on write). */
    private MemorySegment stringPointers(String name, long expected) {
        long n = arrayLength(name, GGUF_TYPE_STRING());
        if (n != expected) {
            throw new IllegalStateException(file + ": " + name + " has " + n + " entries, expected " + expected);
        }
        long id = key(name, GGUF_TYPE_ARRAY());
        MemorySegment pointers = arena.allocate(ADDRESS, n);
        for (long i = 0; i < n; i++) {
            pointers.setAtIndex(ADDRESS, i, gguf_get_arr_str(src, id, i));
        }
        return pointers;
    }

    private int[] int32s(String name, int expected) {
        long n = arrayLength(name, GGUF_TYPE_INT32());
        if (n != expected) {
            throw new IllegalStateException(file + ": " + name + " has " + n + " entries, expected " + expected);
        }
        return gguf_get_arr_data(src, key(name, GGUF_TYPE_ARRAY())).reinterpret(n * Integer.BYTES)
                .toArray(JAVA_INT);
    }

    @Override
    public void close() {
        gguf_free(src);
        arena.close();
    }
}
