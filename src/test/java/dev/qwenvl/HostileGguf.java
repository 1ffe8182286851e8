package dev.qwenvl;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * An editable copy of a valid GGUF's header, parsed independently of the facade's reader, for writing damaged
 * variants: key/values and tensor infos can be changed, dropped or added, the counts, magic and version forged, and
 * the tensor data is copied from the source file (tensor offsets are relative to the data section, so a header of
 * another length still points at the same bytes once padded).
 */
final class HostileGguf {
    static final int U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7, STRING = 8, ARRAY = 9,
            U64 = 10, I64 = 11, F64 = 12;

    /** A key, its GGUF value type and the value's encoded bytes. */
    static final class Kv {
        String key;
        int type;
        byte[] value;

        Kv(String key, int type, byte[] value) {
            this.key = key;
            this.type = type;
            this.value = value;
        }
    }

    /** A tensor info as stored: name, dimensions (ne0 first), ggml type, offset in the data section. */
    static final class TensorInfo {
        String name;
        long[] dims;
        int type;
        long offset;
        long sourceOffset = -1; // where its bytes are in the source's data section
        long sourceSpan;        // their length there, padding included

        TensorInfo(String name, long[] dims, int type, long offset) {
            this.name = name;
            this.dims = dims;
            this.type = type;
            this.offset = offset;
        }

        /** Bytes of an F32, F16 or Q8_0 tensor of the current shape; the source span for other types. */
        long bytes() {
            long n = 1;
            for (long d : dims) {
                n *= d;
            }
            return switch (type) {
                case 0 -> 4 * n;
                case 1 -> 2 * n;
                case 8 -> n / 32 * 34;
                default -> sourceSpan;
            };
        }
    }

    private final Path source;
    private final long sourceDataStart;
    int magic = 0x46554747;
    int version;
    long alignment = 32;
    Long kvCountOverride;
    Long tensorCountOverride;
    private boolean repack; // lay the tensors out afresh, as a writer would after a shape change
    final List<Kv> kvs = new ArrayList<>();
    final List<TensorInfo> tensors = new ArrayList<>();

    private HostileGguf(Path source, long sourceDataStart) {
        this.source = source;
        this.sourceDataStart = sourceDataStart;
    }

    static HostileGguf parse(Path file) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            MappedByteBuffer b = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size());
            b.order(ByteOrder.LITTLE_ENDIAN);
            b.getInt();
            int version = b.getInt();
            long nTensors = b.getLong();
            long nKv = b.getLong();
            List<Kv> kvs = new ArrayList<>();
            for (long i = 0; i < nKv; i++) {
                String key = readString(b);
                int type = b.getInt();
                int start = b.position();
                skipValue(b, type);
                byte[] value = new byte[b.position() - start];
                b.get(start, value);
                kvs.add(new Kv(key, type, value));
            }
            List<TensorInfo> infos = new ArrayList<>();
            for (long i = 0; i < nTensors; i++) {
                String name = readString(b);
                long[] dims = new long[b.getInt()];
                for (int d = 0; d < dims.length; d++) {
                    dims[d] = b.getLong();
                }
                infos.add(new TensorInfo(name, dims, b.getInt(), b.getLong()));
            }
            long alignment = 32;
            for (Kv kv : kvs) {
                if (kv.key.equals("general.alignment")) {
                    alignment = ByteBuffer.wrap(kv.value).order(ByteOrder.LITTLE_ENDIAN).getInt();
                }
            }
            HostileGguf g = new HostileGguf(file, (b.position() + alignment - 1) / alignment * alignment);
            long dataSize = ch.size() - g.sourceDataStart;
            for (int i = 0; i < infos.size(); i++) {
                TensorInfo t = infos.get(i);
                t.sourceOffset = t.offset;
                t.sourceSpan = (i + 1 < infos.size() ? infos.get(i + 1).offset : dataSize) - t.offset;
            }
            g.version = version;
            g.alignment = alignment;
            g.kvs.addAll(kvs);
            g.tensors.addAll(infos);
            return g;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A fresh editable copy of the source's header. */
    HostileGguf copy() {
        return parse(source);
    }

    Kv kv(String key) {
        return kvs.stream().filter(k -> k.key.equals(key)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("no key " + key + " in " + source));
    }

    TensorInfo tensor(String name) {
        return tensors.stream().filter(t -> t.name.equals(name)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("no tensor " + name + " in " + source));
    }

    /** Sets (or adds) a key with an already encoded value. */
    HostileGguf set(String key, int type, byte[] value) {
        kvs.stream().filter(k -> k.key.equals(key)).findFirst()
                .ifPresentOrElse(k -> { k.type = type; k.value = value; }, () -> kvs.add(new Kv(key, type, value)));
        return this;
    }

    HostileGguf remove(String key) {
        kv(key);
        kvs.removeIf(k -> k.key.equals(key));
        return this;
    }

    /** Drops a tensor and packs the others, as a writer that never had it would. */
    HostileGguf removeTensor(String name) {
        tensor(name);
        tensors.removeIf(t -> t.name.equals(name));
        repack = true;
        return this;
    }

    /** Gives a tensor another type and shape, with its data resized (zero-padded or cut) and the others packed. */
    HostileGguf reshape(String name, int type, long... dims) {
        TensorInfo t = tensor(name);
        t.type = type;
        t.dims = dims;
        repack = true;
        return this;
    }

    HostileGguf edit(Consumer<HostileGguf> change) {
        change.accept(this);
        return this;
    }

    /** Writes the header, the padding and the source's data section (repacked after tensor edits). */
    Path write(Path out) {
        if (repack) {
            long at = 0;
            for (TensorInfo t : tensors) {
                t.offset = at;
                at += (t.bytes() + alignment - 1) / alignment * alignment;
            }
        }
        byte[] header = header();
        try (FileChannel src = FileChannel.open(source, StandardOpenOption.READ);
             FileChannel dst = FileChannel.open(out, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                     StandardOpenOption.TRUNCATE_EXISTING)) {
            dst.write(ByteBuffer.wrap(header));
            if (!repack) {
                copy(src, sourceDataStart, src.size() - sourceDataStart, dst);
                return out;
            }
            for (TensorInfo t : tensors) {
                long padded = (t.bytes() + alignment - 1) / alignment * alignment;
                long kept = Math.min(padded, t.sourceSpan);
                copy(src, sourceDataStart + t.sourceOffset, kept, dst);
                dst.write(ByteBuffer.allocate((int) (padded - kept)));
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void copy(FileChannel src, long from, long n, FileChannel dst) throws IOException {
        for (long done = 0; done < n; ) {
            done += src.transferTo(from + done, n - done, dst);
        }
    }

    /** Byte offsets in the unmodified file: end of fixed header, end of key/values, end of tensor infos, data start. */
    long[] sections() {
        Encoder e = new Encoder();
        e.fixedHeader(this);
        long fixed = e.size();
        kvs.forEach(e::kv);
        long kvEnd = e.size();
        tensors.forEach(e::tensor);
        return new long[]{fixed, kvEnd, e.size(), sourceDataStart};
    }

    byte[] header() {
        Encoder e = new Encoder();
        e.fixedHeader(this);
        kvs.forEach(e::kv);
        tensors.forEach(e::tensor);
        while (e.size() % alignment != 0) {
            e.write(0);
        }
        return e.toByteArray();
    }

    // --- value encoders ---

    static byte[] u32(long v) {
        return le(4).putInt((int) v).array();
    }

    static byte[] i32(int v) {
        return le(4).putInt(v).array();
    }

    static byte[] u64(long v) {
        return le(8).putLong(v).array();
    }

    static byte[] f32(float v) {
        return le(4).putFloat(v).array();
    }

    static byte[] bool(boolean v) {
        return new byte[]{(byte) (v ? 1 : 0)};
    }

    static byte[] str(String s) {
        return str(s.getBytes(StandardCharsets.UTF_8));
    }

    static byte[] str(byte[] utf8) {
        return ByteBuffer.allocate(8 + utf8.length).order(ByteOrder.LITTLE_ENDIAN).putLong(utf8.length).put(utf8)
                .array();
    }

    /** An array value: element type, declared count, then the encoded elements. */
    static byte[] array(int elementType, long count, byte[]... elements) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(i32(elementType));
        out.writeBytes(u64(count));
        for (byte[] e : elements) {
            out.writeBytes(e);
        }
        return out.toByteArray();
    }

    private static ByteBuffer le(int n) {
        return ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static String readString(ByteBuffer b) {
        byte[] s = new byte[(int) b.getLong()];
        b.get(s);
        return new String(s, StandardCharsets.UTF_8);
    }

    private static void skipValue(ByteBuffer b, int type) {
        switch (type) {
            case U8, I8, BOOL -> b.position(b.position() + 1);
            case U16, I16 -> b.position(b.position() + 2);
            case U32, I32, F32 -> b.position(b.position() + 4);
            case U64, I64, F64 -> b.position(b.position() + 8);
            case STRING -> b.position((int) (b.position() + 8 + b.getLong(b.position())));
            case ARRAY -> {
                int elementType = b.getInt();
                long n = b.getLong();
                for (long i = 0; i < n; i++) {
                    skipValue(b, elementType);
                }
            }
            default -> throw new IllegalStateException("unknown GGUF type " + type);
        }
    }

    private static final class Encoder extends ByteArrayOutputStream {
        void fixedHeader(HostileGguf g) {
            writeBytes(i32(g.magic));
            writeBytes(i32(g.version));
            writeBytes(u64(g.tensorCountOverride != null ? g.tensorCountOverride : g.tensors.size()));
            writeBytes(u64(g.kvCountOverride != null ? g.kvCountOverride : g.kvs.size()));
        }

        void kv(Kv kv) {
            writeBytes(str(kv.key));
            writeBytes(i32(kv.type));
            writeBytes(kv.value);
        }

        void tensor(TensorInfo t) {
            writeBytes(str(t.name));
            writeBytes(i32(t.dims.length));
            for (long d : t.dims) {
                writeBytes(u64(d));
            }
            writeBytes(i32(t.type));
            writeBytes(u64(t.offset));
        }
    }
}
