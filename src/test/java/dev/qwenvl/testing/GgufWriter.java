package dev.qwenvl.testing;

import static dev.qwenvl.bindings.qwenvl_h.*;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.qwenvl.bindings.ggml_init_params;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * Writes one GGUF file through llama.cpp's gguf API: keys and tensor descriptions go into a {@code gguf_context},
 * whose header ({@code gguf_get_meta_data}) is written first; then each tensor's deterministic random data is
 * generated and streamed in chunks at the offsets the context assigned ({@code gguf_get_tensor_offset}), padded to
 * {@code gguf_get_alignment} exactly as {@code gguf_write_to_file} pads. No tensor is ever held whole in memory, so
 * a multi-gigabyte model costs a few megabytes of heap.
 */
final class GgufWriter implements AutoCloseable {
    private static final int CHUNK_ELEMENTS = 1 << 20;
    private static final int QK_K = 256;
    /** Q4_K sub-block scales 2 and mins 15 (both under 16, so no high bits): x = d * (2q - 15), q uniform 0..15. */
    private static final byte[] Q4_K_SCALES = {2, 2, 2, 2, 15, 15, 15, 15, (byte) 0xF2, (byte) 0xF2, (byte) 0xF2,
            (byte) 0xF2};
    /** Standard deviation of 2q - 15 for q uniform on 0..15. */
    private static final double Q4_K_SPREAD = 2 * Math.sqrt(255 / 12.0);
    /** Q6_K's 16 int8 sub-block scales, all 1: x = d * (q - 32), q uniform 0..63. */
    private static final byte[] Q6_K_SCALES = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    /** Standard deviation of q - 32 for q uniform on 0..63. */
    private static final double Q6_K_SPREAD = Math.sqrt(4095 / 12.0);

    /** How a tensor's elements are drawn: mean + uniform noise of the given standard deviation. */
    record Fill(float mean, float std) {
        static Fill constant(float value) {
            return new Fill(value, 0f);
        }

        static Fill noise(double std) {
            return new Fill(0f, (float) std);
        }

        /** Hidden weights: std 2/sqrt(fan_in), which keeps random models' outputs varied (notes §6). */
        static Fill weights(long fanIn) {
            return noise(2.0 / Math.sqrt(fanIn));
        }
    }

    private record Tensor(String name, int type, long[] ne, Fill fill) {
        long elements() {
            long n = 1;
            for (long d : ne) {
                n *= d;
            }
            return n;
        }
    }

    private final Arena arena = Arena.ofConfined();
    private final MemorySegment ctx;
    private final long seed;
    private final List<Tensor> tensors = new ArrayList<>();

    /** An empty file whose tensors are all seeded from {@code seed} and their own names. */
    GgufWriter(long seed) {
        this.seed = seed;
        this.ctx = gguf_init_empty();
        if (ctx.equals(MemorySegment.NULL)) {
            throw new IllegalStateException("gguf_init_empty returned NULL (out of native memory?)");
        }
    }

    void putString(String key, String value) {
        gguf_set_val_str(ctx, cString(key), cString(value));
    }

    void putU32(String key, int value) {
        gguf_set_val_u32(ctx, cString(key), value);
    }

    void putF32(String key, float value) {
        gguf_set_val_f32(ctx, cString(key), value);
    }

    void putBool(String key, boolean value) {
        gguf_set_val_bool(ctx, cString(key), value);
    }

    void putI32s(String key, int... values) {
        gguf_set_arr_data(ctx, cString(key), GGUF_TYPE_INT32(), arena.allocateFrom(JAVA_INT, values), values.length);
    }

    void putF32s(String key, float... values) {
        gguf_set_arr_data(ctx, cString(key), GGUF_TYPE_FLOAT32(), arena.allocateFrom(JAVA_FLOAT, values),
                values.length);
    }

    /** A string array from {@code count} C-string pointers; gguf copies the strings. */
    void putStrings(String key, MemorySegment pointers, long count) {
        gguf_set_arr_str(ctx, cString(key), pointers, count);
    }

    /** An F32 tensor; {@code ne} is in ggml order (fastest dimension first). */
    void f32(String name, Fill fill, long... ne) {
        tensors.add(new Tensor(name, GGML_TYPE_F32(), ne.clone(), fill));
    }

    /** An F16 tensor; {@code ne} is in ggml order (fastest dimension first). */
    void f16(String name, Fill fill, long... ne) {
        tensors.add(new Tensor(name, GGML_TYPE_F16(), ne.clone(), fill));
    }

    /**
     * A Q4_K or Q6_K tensor written directly as random but valid blocks: uniform random quants under one fixed
     * block scale chosen so the weights have {@code fill}'s standard deviation (mean 0), without an F16 detour.
     */
    void quantized(String name, int type, Fill fill, long... ne) {
        if (type != GGML_TYPE_Q4_K() && type != GGML_TYPE_Q6_K()) {
            throw new IllegalArgumentException("only Q4_K and Q6_K blocks are written directly, not type " + type);
        }
        if (fill.mean() != 0f || ne[0] % QK_K != 0) {
            throw new IllegalArgumentException(name + ": direct blocks need mean 0 and rows a multiple of " + QK_K);
        }
        tensors.add(new Tensor(name, type, ne.clone(), fill));
    }

    /** Writes header and data to {@code file}, which is truncated first. */
    void write(Path file) throws IOException {
        MemorySegment ggml = describeTensors();
        try (FileChannel out = FileChannel.open(file, StandardOpenOption.WRITE, StandardOpenOption.CREATE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            long metaSize = gguf_get_meta_size(ctx);
            MemorySegment meta = arena.allocate(metaSize);
            gguf_get_meta_data(ctx, meta);
            writeFully(out, meta.asByteBuffer());
            long alignment = gguf_get_alignment(ctx);
            ByteBuffer chunk = ByteBuffer.allocateDirect(CHUNK_ELEMENTS * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < tensors.size(); i++) {
                long expected = metaSize + gguf_get_tensor_offset(ctx, i);
                if (out.position() != expected) {
                    throw new IllegalStateException("tensor " + tensors.get(i).name() + " would start at byte "
                            + out.position() + " but the header places it at " + expected);
                }
                writeData(out, tensors.get(i), chunk);
                long padding = (alignment - out.position() % alignment) % alignment;
                writeFully(out, ByteBuffer.allocate((int) padding));
            }
        } finally {
            ggml_free(ggml);
        }
    }

    /** Adds every tensor's name, type and shape to the gguf context, through a data-less ggml context. */
    private MemorySegment describeTensors() {
        MemorySegment params = ggml_init_params.allocate(arena);
        ggml_init_params.mem_size(params, (tensors.size() + 1) * ggml_tensor_overhead());
        ggml_init_params.mem_buffer(params, MemorySegment.NULL);
        ggml_init_params.no_alloc(params, true);
        MemorySegment ggml = ggml_init(params);
        if (ggml.equals(MemorySegment.NULL)) {
            throw new IllegalStateException("ggml_init returned NULL for " + tensors.size() + " tensor descriptions");
        }
        MemorySegment ne = arena.allocate(JAVA_LONG, 4);
        for (Tensor t : tensors) {
            if (t.name().getBytes(StandardCharsets.UTF_8).length >= 64) {
                throw new IllegalArgumentException("tensor name longer than GGML_MAX_NAME-1: " + t.name());
            }
            for (int d = 0; d < t.ne().length; d++) {
                ne.setAtIndex(JAVA_LONG, d, t.ne()[d]);
            }
            MemorySegment tensor = ggml_new_tensor(ggml, t.type(), t.ne().length, ne);
            ggml_set_name(tensor, cString(t.name()));
            gguf_add_tensor(ctx, tensor);
        }
        return ggml;
    }

    private void writeData(FileChannel out, Tensor t, ByteBuffer chunk) throws IOException {
        SplitMix64 random = new SplitMix64(seed ^ SplitMix64.hash(t.name()));
        if (t.type() == GGML_TYPE_Q4_K() || t.type() == GGML_TYPE_Q6_K()) {
            writeBlocks(out, t, chunk, random);
            return;
        }
        boolean f16 = t.type() == GGML_TYPE_F16();
        float halfWidth = (float) (t.fill().std() * Math.sqrt(3.0)); // uniform on [-a, a] has std a/sqrt(3)
        long remaining = t.elements();
        while (remaining > 0) {
            int n = (int) Math.min(remaining, CHUNK_ELEMENTS);
            chunk.clear();
            for (int k = 0; k < n; k++) {
                float v = t.fill().mean() + (halfWidth == 0f ? 0f : halfWidth * random.nextSigned());
                if (f16) {
                    chunk.putShort(Float.floatToFloat16(v));
                } else {
                    chunk.putFloat(v);
                }
            }
            chunk.flip();
            writeFully(out, chunk);
            remaining -= n;
        }
    }

    /** Q4_K: d, dmin, scales, 128 quant bytes (144 bytes); Q6_K: 128 + 64 quant bytes, scales, d (210 bytes). */
    private static void writeBlocks(FileChannel out, Tensor t, ByteBuffer chunk, SplitMix64 random)
            throws IOException {
        boolean q6 = t.type() == GGML_TYPE_Q6_K();
        int blockBytes = q6 ? 210 : 144;
        short d = Float.floatToFloat16((float) (t.fill().std() / (q6 ? Q6_K_SPREAD : Q4_K_SPREAD)));
        long remaining = t.elements() / QK_K;
        int perChunk = chunk.capacity() / blockBytes;
        while (remaining > 0) {
            int n = (int) Math.min(remaining, perChunk);
            chunk.clear();
            for (int b = 0; b < n; b++) {
                if (q6) {
                    putRandom(chunk, random, 192);
                    chunk.put(Q6_K_SCALES).putShort(d);
                } else {
                    chunk.putShort(d).putShort(d).put(Q4_K_SCALES);
                    putRandom(chunk, random, 128);
                }
            }
            chunk.flip();
            writeFully(out, chunk);
            remaining -= n;
        }
    }

    private static void putRandom(ByteBuffer chunk, SplitMix64 random, int bytes) {
        for (int i = 0; i < bytes; i += Long.BYTES) {
            chunk.putLong(random.next());
        }
    }

    private static void writeFully(FileChannel out, ByteBuffer buffer) throws IOException {
        while (buffer.hasRemaining()) {
            out.write(buffer);
        }
    }

    private MemorySegment cString(String s) {
        return arena.allocateFrom(s);
    }

    @Override
    public void close() {
        gguf_free(ctx);
        arena.close();
    }

    /** SplitMix64 written out, so the bytes never depend on a JDK's choice of random algorithm. */
    static final class SplitMix64 {
        private long state;

        SplitMix64(long seed) {
            this.state = seed;
        }

        long next() {
            long z = (state += 0x9E3779B97F4A7C15L);
            z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
            z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
            return z ^ (z >>> 31);
        }

        /** Uniform on [-1, 1), 24 bits of resolution. */
        float nextSigned() {
            return (next() >>> 40) * 0x1.0p-23f - 1f;
        }

        /** FNV-1a over the UTF-8 bytes: a fixed per-name stream, independent of declaration order. */
        static long hash(String s) {
            long h = 0xCBF29CE484222325L;
            for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
                h = (h ^ (b & 0xFF)) * 0x100000001B3L;
            }
            return h;
        }
    }
}
