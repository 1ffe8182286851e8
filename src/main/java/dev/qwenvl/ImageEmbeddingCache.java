package dev.qwenvl;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Encoded image embeddings, shared by every conversation of a model and keyed by the image's content: the SHA-256 of
 * its pixels (never a fast 64-bit hash, so nobody can craft a collision and be served another user's image) with its
 * token count (an image without an id, "", is never cached). Bounded in bytes, least recently used first out. Entries live in automatic arenas: an entry evicted
 * while a conversation decodes from it stays alive until that decode lets go of it.
 */
final class ImageEmbeddingCache {
    private final long maxBytes;
    private final LinkedHashMap<String, MemorySegment> entries = new LinkedHashMap<>(16, 0.75f, true);
    private long bytes;
    private long hits;
    private long misses;
    private long evictions;

    ImageEmbeddingCache(long maxBytes) {
        this.maxBytes = maxBytes;
    }

    /** The embeddings for {@code key}, or null (counted as a miss) when the image must be encoded. */
    synchronized MemorySegment get(String key) {
        MemorySegment e = key.isEmpty() ? null : entries.get(key);
        if (e == null) {
            misses++;
        } else {
            hits++;
        }
        return e;
    }

    /** Keeps a copy of {@code embeddings} (native memory C owns) under {@code key}, if it fits the bound at all. */
    void put(String key, MemorySegment embeddings) {
        long size = embeddings.byteSize();
        if (size > maxBytes || key.isEmpty()) {
            return;
        }
        MemorySegment copy = Arena.ofAuto().allocate(size, 16);
        copy.copyFrom(embeddings);
        synchronized (this) {
            MemorySegment old = entries.put(key, copy);
            bytes += size - (old == null ? 0 : old.byteSize());
            for (Iterator<Map.Entry<String, MemorySegment>> it = entries.entrySet().iterator();
                 bytes > maxBytes && it.hasNext(); ) {
                bytes -= it.next().getValue().byteSize();
                it.remove();
                evictions++;
            }
        }
    }

    /** Whether {@code key} is held, without counting a hit or a miss. */
    synchronized boolean contains(String key) {
        return entries.containsKey(key);
    }

    synchronized ImageCacheStats stats() {
        return new ImageCacheStats(hits, misses, evictions, entries.size(), bytes, maxBytes);
    }
}
