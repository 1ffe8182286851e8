package dev.qwenvl;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Joins token pieces (raw bytes, which may split a UTF-8 character) into text, holding back an incomplete character
 * until its last byte arrives, so every piece handed on is valid UTF-8. One buffer, reused: a piece costs its String.
 */
final class Utf8Assembler {
    private byte[] buf = new byte[64]; // the held-back bytes of an incomplete character (at most 3), then the piece
    private int pending;

    /** Adds the first {@code n} bytes of {@code piece}; returns the text that is now complete (possibly empty). */
    String add(MemorySegment piece, int n) {
        int len = pending + n;
        if (len > buf.length) {
            buf = Arrays.copyOf(buf, Math.max(len, 2 * buf.length));
        }
        MemorySegment.copy(piece, ValueLayout.JAVA_BYTE, 0, buf, pending, n);
        int complete = completePrefix(buf, len);
        String text = new String(buf, 0, complete, StandardCharsets.UTF_8);
        System.arraycopy(buf, complete, buf, 0, len - complete);
        pending = len - complete;
        return text;
    }

    /** What is still held back, decoded with replacement characters (at the end of a generation). */
    String flush() {
        String rest = new String(buf, 0, pending, StandardCharsets.UTF_8);
        pending = 0;
        return rest;
    }

    /** Length of the longest prefix of {@code b[0..n)} that does not end inside a multi-byte character. */
    static int completePrefix(byte[] b, int n) {
        for (int back = 1; back <= Math.min(3, n); back++) {
            int c = b[n - back] & 0xFF;
            if (c < 0x80) {
                return n; // ASCII: nothing pending
            }
            if (c >= 0xC0) { // a lead byte: is its sequence complete?
                int need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
                return back >= need ? n : n - back;
            }
        }
        return n; // stray continuation bytes: let the decoder replace them
    }
}
