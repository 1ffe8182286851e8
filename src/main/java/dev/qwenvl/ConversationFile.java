package dev.qwenvl;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

import static dev.qwenvl.bindings.qwenvl_h.llama_state_seq_get_data;
import static dev.qwenvl.bindings.qwenvl_h.llama_state_seq_get_size;
import static dev.qwenvl.bindings.qwenvl_h.llama_state_seq_set_data;

/**
 * A conversation on disk: the fingerprint of the model files it was saved from, its turns, what fills its KV cells
 * (text tokens, and images by content id and token count) and llama.cpp's own sequence state. Written to a temporary
 * file and moved into place, so a reader never sees half a file; read by mapping it, every length checked.
 */
final class ConversationFile {
    private static final byte[] MAGIC = "QWENVL-CONVERSATION\n".getBytes(StandardCharsets.US_ASCII);
    private static final int VERSION = 1;
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(java.nio.ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED
            .withOrder(java.nio.ByteOrder.BIG_ENDIAN);

    private ConversationFile() {
    }

    static void write(Path file, String fingerprint, SequenceState seq, MemorySegment ctx, int seqId) {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try (Arena arena = Arena.ofConfined();
             FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                     StandardOpenOption.TRUNCATE_EXISTING)) {
            long size = llama_state_seq_get_size(ctx, seqId);
            MemorySegment state = arena.allocate(Math.max(1, size));
            if (llama_state_seq_get_data(ctx, state, size, seqId) != size) {
                throw new GenerationException("llama.cpp could not copy the conversation's state");
            }
            ByteArrayOutputStream header = new ByteArrayOutputStream();
            DataOutputStream out = new DataOutputStream(header);
            out.write(MAGIC);
            out.writeInt(VERSION);
            writeString(out, fingerprint);
            out.writeInt(seq.turns().size());
            for (ChatMessage m : seq.turns()) {
                writeString(out, m.role());
                writeString(out, m.content());
            }
            out.writeInt(seq.items().size());
            for (SequenceState.Item i : seq.items()) {
                out.writeInt(i.token());
                writeString(out, i.media() == null ? "" : i.media());
                out.writeInt(i.cells());
                out.writeInt(i.positions());
            }
            out.writeLong(size);
            ch.write(ByteBuffer.wrap(header.toByteArray()));
            for (long at = 0; at < size; ) {
                at += ch.write(state.asSlice(at, Math.min(1L << 30, size - at)).asByteBuffer());
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the conversation to " + file, e);
        }
        try {
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot move the saved conversation into " + file, e);
        }
    }

    /** Reads {@code file} into the empty sequence of {@code ctx}, after checking it was saved from this model. */
    static void read(Path file, String fingerprint, SequenceState seq, MemorySegment ctx, int seqId) {
        try (Arena arena = Arena.ofConfined(); FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            Reader in = new Reader(file, ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena));
            if (!in.bytes(MAGIC.length).equals(MemorySegment.ofArray(MAGIC).asByteBuffer())) {
                throw new StateFileException(file, "not a saved qwenvl conversation");
            }
            int version = in.count();
            if (version != VERSION) {
                throw new StateFileException(file, "saved in format version " + version + "; this qwenvl reads "
                        + VERSION);
            }
            String savedFrom = in.string();
            if (!savedFrom.equals(fingerprint)) {
                throw new StateFileException(file, "saved from other model files (" + savedFrom + "); load the"
                        + " model and mmproj it was saved from");
            }
            List<ChatMessage> turns = new ArrayList<>();
            for (int i = 0, n = in.count(); i < n; i++) {
                turns.add(new ChatMessage(in.string(), in.string()));
            }
            List<SequenceState.Item> items = new ArrayList<>();
            for (int i = 0, n = in.count(); i < n; i++) {
                int token = in.integer();
                String media = in.string();
                items.add(new SequenceState.Item(token, token >= 0 ? null : media, in.count(), in.count()));
            }
            long size = in.length();
            MemorySegment state = in.segment(size);
            if (llama_state_seq_set_data(ctx, state, size, seqId) == 0) {
                throw new StateFileException(file, NativeLog.withRecent("llama.cpp refused the saved state (is this"
                        + " context smaller than the conversation?)"));
            }
            seq.adopt(items);
            seq.adoptTurns(turns);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the conversation from " + file, e);
        }
    }

    private static void writeString(DataOutputStream out, String s) throws IOException {
        byte[] utf8 = s.getBytes(StandardCharsets.UTF_8);
        out.writeInt(utf8.length);
        out.write(utf8);
    }

    /** Reads the mapped file front to back; any length past its end is a {@link StateFileException}. */
    private static final class Reader {
        private final Path file;
        private final MemorySegment data;
        private long at;

        Reader(Path file, MemorySegment data) {
            this.file = file;
            this.data = data;
        }

        MemorySegment segment(long n) {
            if (n < 0 || n > data.byteSize() - at) {
                throw new StateFileException(file, "truncated or damaged at byte " + at);
            }
            MemorySegment s = data.asSlice(at, n);
            at += n;
            return s;
        }

        ByteBuffer bytes(int n) {
            return segment(n).asByteBuffer();
        }

        int integer() {
            return segment(4).get(INT, 0);
        }

        int count() {
            int n = integer();
            if (n < 0) {
                throw new StateFileException(file, "damaged: a count of " + n + " at byte " + (at - 4));
            }
            return n;
        }

        long length() {
            return segment(8).get(LONG, 0);
        }

        String string() {
            return new String(segment(count()).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
        }
    }
}
