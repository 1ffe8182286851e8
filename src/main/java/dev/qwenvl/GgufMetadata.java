package dev.qwenvl;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A GGUF file's key/values and tensor table, read and bounds-checked in Java so that a damaged or hostile file is
 * reported as an {@link InvalidModelException} before llama.cpp (which may {@code abort()}) ever sees it.
 */
final class GgufMetadata {
    private static final int MAGIC = 0x46554747; // "GGUF" little-endian
    private static final int MAX_DIMS = 4;
    private static final long MAX_STRING = 1L << 30;
    static final int TYPE_U32 = 4, TYPE_I32 = 5, TYPE_F32 = 6, TYPE_BOOL = 7, TYPE_STRING = 8, TYPE_ARRAY = 9;
    private static final String[] TYPE_NAMES = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string",
            "array", "u64", "i64", "f64"};

    /** One tensor's name, shape (ne0 first), ggml type, and byte size. */
    record Tensor(String name, long[] shape, int type, long offset, long bytes) {
    }

    private final Path file;
    private final Map<String, Object> values;
    private final Map<String, Integer> types; // GGUF value type by key
    private final Map<String, Tensor> tensors;

    private GgufMetadata(Path file, Map<String, Object> values, Map<String, Integer> types,
                         Map<String, Tensor> tensors) {
        this.file = file;
        this.values = values;
        this.types = types;
        this.tensors = tensors;
    }

    /**
     * Reads and checks the file; {@code types} is ggml's type table ({block size, bytes per block} by type id).
     * Array values are kept as their element count unless they are short numeric lists. */
    static GgufMetadata read(Path file, int[][] types) {
        long size;
        try {
            size = Files.size(file);
        } catch (NoSuchFileException e) {
            throw new InvalidModelException(file, "no such file");
        } catch (IOException e) {
            throw new InvalidModelException(file, "cannot be read: " + e.getMessage());
        }
        if (Files.isDirectory(file)) {
            throw new InvalidModelException(file, "is a directory, not a GGUF file");
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            return new Reader(file, ch, size, types).read();
        } catch (ArithmeticException e) {
            throw new InvalidModelException(file, "has a tensor whose size overflows 64 bits");
        } catch (IOException e) {
            throw new InvalidModelException(file, "cannot be read: " + e.getMessage());
        }
    }

    Path file() {
        return file;
    }

    boolean has(String key) {
        return values.containsKey(key);
    }

    String string(String key) {
        return values.get(key) instanceof String s ? s : null;
    }

    String requireString(String key) {
        Object v = require(key);
        if (v instanceof String s) {
            return s;
        }
        throw new InvalidModelException(file, "key " + key + " must be a string, is " + describe(v));
    }

    long requireUnsigned(String key) {
        Object v = require(key);
        if (v instanceof Long l && l >= 0) {
            return l;
        }
        throw new InvalidModelException(file, "key " + key + " must be a non-negative integer, is " + describe(v));
    }

    Long unsigned(String key) {
        return has(key) ? requireUnsigned(key) : null;
    }

    /**
     * Checks that the key, where present, has exactly this GGUF type: llama.cpp's typed getters (gguf_get_val_u32...)
     * abort() on any other, even u64 for u32.
     */
    void checkType(String key, int type) {
        Integer actual = types.get(key);
        if (actual != null && actual != type) {
            throw new InvalidModelException(file, "key " + key + " must be of GGUF type " + TYPE_NAMES[type]
                    + ", is " + TYPE_NAMES[actual] + " " + describe(values.get(key)));
        }
    }

    /** The number of elements of an array value, or -1 if the key is absent or not an array. */
    long arrayLength(String key) {
        Object v = values.get(key);
        return v instanceof ArrayCount a ? a.count() : v instanceof long[] l ? l.length : -1;
    }

    boolean bool(String key, boolean fallback) {
        Object v = values.get(key);
        return v instanceof Boolean b ? b : fallback;
    }

    /** A short numeric array value, or null if absent or not one. */
    long[] longs(String key) {
        return values.get(key) instanceof long[] a ? a : null;
    }

    Tensor tensor(String name) {
        return tensors.get(name);
    }

    int tensorCount() {
        return tensors.size();
    }

    java.util.Collection<Tensor> tensors() {
        return tensors.values();
    }

    private Object require(String key) {
        Object v = values.get(key);
        if (v == null) {
            throw new InvalidModelException(file, "required key " + key + " is missing");
        }
        return v;
    }

    private static String describe(Object v) {
        return v instanceof ArrayCount a ? "an array of " + a.count() : v.getClass().getSimpleName() + " " + v;
    }

    /** An array value kept only as its length. */
    record ArrayCount(long count) {
    }

    private static final class Reader {
        private final Path file;
        private final FileChannel ch;
        private final long size;
        private final int[][] types; // per ggml type id: {block size, bytes per block}; 0 where the id was removed
        private final ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
        private long bufStart;
        private long pos;

        Reader(Path file, FileChannel ch, long size, int[][] types) {
            this.file = file;
            this.ch = ch;
            this.size = size;
            this.types = types;
            buf.limit(0);
        }

        GgufMetadata read() throws IOException {
            if (size < 24) {
                throw fail(size == 0 ? "is empty" : "is too short to be a GGUF file (" + size + " bytes)");
            }
            if (i32() != MAGIC) {
                throw fail("is not a GGUF file (bad magic); pass a .gguf model converted for llama.cpp");
            }
            int version = i32();
            if (version < 2 || version > 3) {
                throw fail("has GGUF version " + version + "; llama.cpp reads versions 2 and 3");
            }
            long nTensors = i64();
            long nKv = i64();
            // each key/value needs at least 12 bytes and each tensor info at least 24
            if (nKv < 0 || nKv > (size - pos) / 12) {
                throw fail("declares " + Long.toUnsignedString(nKv) + " key/values, more than the file can hold");
            }
            if (nTensors < 0 || nTensors > (size - pos) / 24) {
                throw fail("declares " + Long.toUnsignedString(nTensors) + " tensors, more than the file can hold");
            }
            Map<String, Object> values = new HashMap<>();
            Map<String, Integer> valueTypes = new HashMap<>();
            for (long i = 0; i < nKv; i++) {
                String key = string("key " + i);
                int type = i32();
                if (values.put(key, value(key, type, true)) != null) {
                    throw fail("repeats key " + key);
                }
                valueTypes.put(key, type);
            }
            long alignment = 32;
            if (values.containsKey("general.alignment")) {
                if (valueTypes.get("general.alignment") != TYPE_U32) {
                    throw fail("general.alignment must be of GGUF type u32, is " + TYPE_NAMES[valueTypes.get(
                            "general.alignment")]);
                }
                if (!(values.get("general.alignment") instanceof Long a) || a <= 0 || Long.bitCount(a) != 1) {
                    throw fail("general.alignment must be a power of two, is " + values.get("general.alignment"));
                }
                alignment = a;
            }
            Map<String, Tensor> infos = new LinkedHashMap<>();
            for (long i = 0; i < nTensors; i++) {
                String name = string("tensor name " + i);
                int nDims = i32();
                if (nDims < 1 || nDims > MAX_DIMS) {
                    throw fail("tensor " + name + " has " + nDims + " dimensions; GGUF allows 1 to " + MAX_DIMS);
                }
                long[] shape = new long[nDims];
                long elements = 1;
                for (int d = 0; d < nDims; d++) {
                    shape[d] = i64();
                    if (shape[d] < 0) {
                        throw fail("tensor " + name + " has a negative or overflowing dimension");
                    }
                    elements = shape[d] == 0 ? 0 : Math.multiplyExact(elements, shape[d]);
                }
                int type = i32();
                if (type < 0 || type >= types.length || types[type][0] == 0) {
                    throw fail("tensor " + name + " has unknown ggml type " + type);
                }
                if (shape[0] % types[type][0] != 0) {
                    throw fail("tensor " + name + " has row length " + shape[0] + ", not a multiple of its type's block "
                            + types[type][0]);
                }
                long bytes = Math.multiplyExact(elements / types[type][0], (long) types[type][1]);
                long offset = i64();
                if (offset < 0 || offset % alignment != 0) {
                    throw fail("tensor " + name + " has offset " + Long.toUnsignedString(offset) + ", not aligned to "
                            + alignment);
                }
                if (infos.put(name, new Tensor(name, shape, type, offset, bytes)) != null) {
                    throw fail("repeats tensor " + name);
                }
            }
            long dataStart = (pos + alignment - 1) / alignment * alignment;
            long expected = 0; // llama.cpp requires the tensors packed in order, each padded to the alignment
            for (Tensor t : infos.values()) {
                if (t.offset() != expected) {
                    throw fail("tensor " + t.name() + " has offset " + Long.toUnsignedString(t.offset())
                            + " but the tensors before it end at " + expected + "; GGUF stores tensors in order,"
                            + " each padded to " + alignment + " bytes");
                }
                if (t.bytes() > size - dataStart - t.offset()) {
                    throw fail("is truncated: tensor " + t.name() + " ends at byte " + (dataStart + t.offset() + t.bytes())
                            + " but the file has " + size);
                }
                expected = Math.addExact(t.offset(), (t.bytes() + alignment - 1) / alignment * alignment);
            }
            return new GgufMetadata(file, values, valueTypes, infos);
        }

        private Object value(String key, int type, boolean allowArray) throws IOException {
            return switch (type) {
                case 0 -> (long) (get(1).get() & 0xFF);
                case 1 -> (long) get(1).get();
                case 2 -> (long) (get(2).getShort() & 0xFFFF);
                case 3 -> (long) get(2).getShort();
                case 4 -> i32() & 0xFFFFFFFFL;
                case 5 -> (long) i32();
                case 6 -> (double) get(4).getFloat();
                case 7 -> {
                    int b = get(1).get();
                    if (b != 0 && b != 1) {
                        throw fail("key " + key + " is a bool with value " + b);
                    }
                    yield b == 1;
                }
                case 8 -> string("value of " + key);
                case 9 -> {
                    if (!allowArray) {
                        throw fail("key " + key + " is an array of arrays");
                    }
                    yield array(key);
                }
                case 10 -> {
                    long v = i64();
                    yield v;
                }
                case 11 -> i64();
                case 12 -> get(8).getDouble();
                default -> throw fail("key " + key + " has unknown value type " + type);
            };
        }

        private Object array(String key) throws IOException {
            int type = i32();
            long n = i64();
            int minBytes = switch (type) {
                case 0, 1, 7 -> 1;
                case 2, 3 -> 2;
                case 4, 5, 6 -> 4;
                case 8, 10, 11, 12 -> 8;
                default -> throw fail("key " + key + " is an array of unknown type " + type);
            };
            if (n < 0 || n > (size - pos) / minBytes) {
                throw fail("key " + key + " declares " + Long.toUnsignedString(n) + " elements, more than the file holds");
            }
            boolean keep = n <= 64 && type != 8 && type != 7;
            long[] kept = keep ? new long[(int) n] : null;
            for (long i = 0; i < n; i++) {
                Object v = value(key, type, false);
                if (keep) {
                    kept[(int) i] = v instanceof Double d ? d.longValue() : (Long) v;
                }
            }
            return keep ? kept : new ArrayCount(n);
        }

        private String string(String what) throws IOException {
            long n = i64();
            if (n < 0 || n > MAX_STRING || n > size - pos) {
                throw fail(what + " has length " + Long.toUnsignedString(n) + ", past the end of the file");
            }
            byte[] bytes = new byte[(int) n];
            int done = 0;
            while (done < n) {
                int chunk = (int) Math.min(n - done, buf.capacity());
                get(chunk).get(bytes, done, chunk);
                done += chunk;
            }
            try {
                return StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(bytes)).toString();
            } catch (CharacterCodingException e) {
                throw fail(what + " is not valid UTF-8");
            }
        }

        private int i32() throws IOException {
            return get(4).getInt();
        }

        private long i64() throws IOException {
            return get(8).getLong();
        }

        /** Makes n bytes available at the buffer's position and advances past them. */
        private ByteBuffer get(int n) throws IOException {
            if (pos + n > size) {
                throw fail("is truncated: it ends inside its header at byte " + size);
            }
            if (pos + n > bufStart + buf.limit()) {
                buf.clear();
                bufStart = pos;
                ch.position(pos);
                while (buf.position() < n) {
                    if (ch.read(buf) < 0) {
                        throw fail("is truncated: it ends inside its header at byte " + size);
                    }
                }
                buf.flip();
            }
            buf.position((int) (pos - bufStart));
            pos += n;
            return buf;
        }

        private InvalidModelException fail(String problem) {
            return new InvalidModelException(file, problem);
        }
    }
}
