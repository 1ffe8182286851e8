package dev.qwenvl;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static dev.qwenvl.bindings.qwenvl_h.llama_get_memory;
import static dev.qwenvl.bindings.qwenvl_h.llama_memory_seq_rm;
import static dev.qwenvl.bindings.qwenvl_h.llama_state_seq_get_data;
import static dev.qwenvl.bindings.qwenvl_h.llama_state_seq_get_size;
import static dev.qwenvl.bindings.qwenvl_h.llama_state_seq_set_data;

/**
 * The KV cells of finished conversations, kept so that a new conversation that begins the same way (a client
 * resending its chat, a second question about the same image with the same system prompt) takes them over instead
 * of computing them: llama.cpp's own sequence state (llama_state_seq_get_data), exact to the bit, with the items
 * (text tokens, and images by their SHA-256 content id) it holds. Bounded in bytes, least recently used out.
 */
final class PrefixCache {
    private static final int MIN_CELLS = 8; // below this, copying a whole state costs more than decoding the prefix

    private record Entry(List<SequenceState.Item> items, MemorySegment state) {
    }

    private final long maxBytes;
    private final LinkedHashMap<Long, Entry> entries = new LinkedHashMap<>(16, 0.75f, true);
    private long nextId;
    private long bytes;
    private long hits;
    private long tokensReused;

    PrefixCache(long maxBytes) {
        this.maxBytes = maxBytes;
    }

    /** Keeps a copy of sequence {@code seq} of {@code ctx}, which holds {@code items}, unless one already covers it. */
    void offer(MemorySegment ctx, int seq, List<SequenceState.Item> items) {
        if (maxBytes == 0 || cells(items, items.size()) < MIN_CELLS) {
            return;
        }
        synchronized (this) {
            if (entries.values().stream().anyMatch(e -> holds(e, items))) {
                return; // an entry already holds all of it: no copy (a conversation offered again, unchanged)
            }
        }
        long size = llama_state_seq_get_size(ctx, seq);
        if (size <= 0 || size > maxBytes) {
            return;
        }
        MemorySegment state = Arena.ofAuto().allocate(size);
        if (llama_state_seq_get_data(ctx, state, size, seq) != size) {
            return;
        }
        List<SequenceState.Item> copy = List.copyOf(items);
        synchronized (this) {
            for (Iterator<Entry> it = entries.values().iterator(); it.hasNext(); ) {
                Entry e = it.next();
                if (holds(e, copy)) {
                    return; // an entry already holds all of it
                }
                if (common(e.items(), copy, e.items().size()) == e.items().size()) {
                    bytes -= e.state().byteSize(); // the new one holds all of this one, and more
                    it.remove();
                }
            }
            entries.put(nextId++, new Entry(copy, state));
            bytes += size;
            for (Iterator<Map.Entry<Long, Entry>> it = entries.entrySet().iterator();
                 bytes > maxBytes && it.hasNext(); ) {
                bytes -= it.next().getValue().state().byteSize();
                it.remove();
            }
        }
    }

    private static boolean holds(Entry e, List<SequenceState.Item> items) {
        return common(e.items(), items, items.size()) == items.size();
    }

    /**
     * Restores into sequence {@code seq} of {@code ctx} (which must be empty) the entry sharing the longest prefix with
     * {@code wanted}, covering at most {@code limit} items; returns how many items it covers (0: nothing restored).
     * The caller drops the restored cells past the prefix.
     */
    int restoreLongest(MemorySegment ctx, int seq, List<SequenceState.Item> wanted, int limit) {
        Entry best = null;
        int covered = 0;
        synchronized (this) {
            for (Entry e : entries.values()) {
                int n = common(e.items(), wanted, limit);
                if (n > covered) {
                    covered = n;
                    best = e;
                }
            }
            if (best == null || cells(wanted, covered) < MIN_CELLS) {
                return 0;
            }
            entries.values().remove(best);
            entries.put(nextId++, best); // most recently used
        }
        if (llama_state_seq_set_data(ctx, best.state(), best.state().byteSize(), seq) == 0) {
            llama_memory_seq_rm(llama_get_memory(ctx), seq, -1, -1);
            return 0;
        }
        synchronized (this) {
            hits++;
            tokensReused += covered;
        }
        return covered;
    }

    synchronized PrefixCacheStats stats() {
        return new PrefixCacheStats(hits, tokensReused, entries.size(), bytes, maxBytes);
    }

    /** The KV cells the first {@code n} items fill (an image is one item of many cells). */
    private static long cells(List<SequenceState.Item> items, int n) {
        long cells = 0;
        for (int i = 0; i < n; i++) {
            cells += items.get(i).cells();
        }
        return cells;
    }

    /** Items equal from the start, up to {@code limit}; an image counts only whole. */
    private static int common(List<SequenceState.Item> a, List<SequenceState.Item> b, int limit) {
        int n = Math.min(limit, Math.min(a.size(), b.size()));
        int i = 0;
        while (i < n && a.get(i).equals(b.get(i)) && !"".equals(a.get(i).media())) {
            i++;
        }
        return i;
    }
}
