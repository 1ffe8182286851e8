package dev.qwenvl.bindings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qwenvl.natives.NativeLibraries;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Each calling shape the generator emits works against the real libraries, not just links. */
class GeneratedCallsTest {

    @BeforeAll
    static void load() {
        NativeLibraries.load();
    }

    @Test
    void structReturnedByValueTakesAnAllocator() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment params = qwenvl_h.llama_model_default_params(arena);
            assertEquals(llama_model_params.sizeof(), params.byteSize());
            assertEquals(-1, llama_model_params.n_gpu_layers(params));
            assertEquals(qwenvl_h.LLAMA_SPLIT_MODE_LAYER(), llama_model_params.split_mode(params));
            assertTrue(llama_model_params.use_extra_bufts(params));
            assertEquals(MemorySegment.NULL, llama_model_params.progress_callback(params));
        }
    }

    @Test
    void structByValueParameterVariadicCallAndArrayField() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment init = ggml_init_params.allocate(arena);
            ggml_init_params.mem_size(init, 1 << 20);
            ggml_init_params.mem_buffer(init, MemorySegment.NULL);
            ggml_init_params.no_alloc(init, false);
            MemorySegment ctx = qwenvl_h.ggml_init(init);
            assertFalse(ctx.equals(MemorySegment.NULL), "ggml_init returned NULL");
            try {
                MemorySegment tensor = qwenvl_h.ggml_new_tensor_1d(ctx, qwenvl_h.GGML_TYPE_F32(), 7)
                        .reinterpret(ggml_tensor.sizeof());
                assertEquals(7, ggml_tensor.ne(tensor, 0));
                assertEquals(7, qwenvl_h.ggml_nelements(tensor));
                qwenvl_h.ggml_format_name.makeInvoker(qwenvl_h.C_INT)
                        .apply(tensor, arena.allocateFrom("t%d"), 42);
                assertEquals("t42", qwenvl_h.ggml_get_name(tensor).reinterpret(64).getString(0));
            } finally {
                qwenvl_h.ggml_free(ctx);
            }
        }
    }

    @Test
    void callbackRoundTripsThroughAnUpcallStub() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment stub = llama_progress_callback.allocate((progress, userData) -> progress > 0.5f, arena);
            assertTrue(llama_progress_callback.invoke(stub, 0.75f, MemorySegment.NULL));
            assertFalse(llama_progress_callback.invoke(stub, 0.25f, MemorySegment.NULL));
        }
    }

    @Test
    void constantsComeFromTheHeaders() {
        assertEquals(4, qwenvl_h.GGML_MAX_DIMS());
        assertEquals(-1, qwenvl_h.LLAMA_TOKEN_NULL());
        assertEquals("GGUF", qwenvl_h.GGUF_MAGIC().getString(0));
    }
}
