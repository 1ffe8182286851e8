package dev.qwenvl;

import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.concurrent.LinkedBlockingQueue;

/** Hands text pieces from a generating thread to the thread that iterates over them. */
final class PieceQueue {
    private static final Object END = new Object();
    private final LinkedBlockingQueue<Object> queue = new LinkedBlockingQueue<>();

    void put(String piece) {
        if (!piece.isEmpty()) {
            queue.add(piece);
        }
    }

    /** Ends the stream, with the failure to rethrow to the reader, if any. */
    void finish(Throwable failure) {
        queue.add(failure != null ? failure : END);
    }

    Iterator<String> iterator() {
        return new Iterator<>() {
            private Object next;

            @Override
            public boolean hasNext() {
                if (next == null) {
                    try {
                        next = queue.take();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new IllegalStateException("interrupted while waiting for the next piece", e);
                    }
                }
                if (next instanceof RuntimeException e) {
                    throw e;
                }
                if (next instanceof Error e) {
                    throw e;
                }
                return next != END;
            }

            @Override
            public String next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                String piece = (String) next;
                next = null;
                return piece;
            }
        };
    }
}
