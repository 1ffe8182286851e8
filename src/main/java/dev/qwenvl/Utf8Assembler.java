package dev.qwenvl;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Joins token pieces (raw bytes, which may split a UTF-8 character) into text, holding back an incomplete character
 * until its last byte arrives, so every piece handed on is valid UTF-8.
 */
final class Utf8Assembler {
    private final ByteArrayOutputStream all = new ByteArrayOutputStream();
    private byte[] pending = new byte[0];

    /** Adds a piece; returns the text that is now complete (possibly empty). */
    String add(byte[] piece) {
        all.writeBytes(piece);
        byte[] bytes = new byte[pending.length + piece.length];
        System.arraycopy(pending, 0, bytes, 0, pending.length);
        System.arraycopy(piece, 0, bytes, pending.length, piece.length);
        int complete = completePrefix(bytes);
        pending = java.util.Arrays.copyOfRange(bytes, complete, bytes.length);
        return new String(bytes, 0, complete, StandardCharsets.UTF_8);
    }

    /** What is still held back, decoded with replacement characters (at the end of a generation). */
    String flush() {
        String rest = new String(pending, StandardCharsets.UTF_8);
        pending = new byte[0];
        return rest;
    }

    /** Every byte added so far, exactly as the tokens gave them. */
    byte[] bytes() {
        return all.toByteArray();
    }

    /** Length of the longest prefix that does not end inside a multi-byte character. */
    static int completePrefix(byte[] b) {
        int n = b.length;
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
