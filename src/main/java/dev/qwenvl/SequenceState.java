package dev.qwenvl;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

import static dev.qwenvl.bindings.qwenvl_h.llama_get_memory;
import static dev.qwenvl.bindings.qwenvl_h.llama_memory_seq_rm;

/**
 * The one owner of what a conversation's KV cache holds: the next position, the cells in use, what fills them (text
 * tokens and images, in order) and the turns the chat template has seen, with one mark and roll-back. Mutated only
 * by the thread running the conversation's current step; {@link #cells()} and {@link #history()} may be read from
 * any thread. Every method that touches the KV cache runs inside the context's exclusive section.
 */
final class SequenceState {
    /**
     * What one run of cells holds: a text token (cells and positions 1), or an image identified by its content id
     * and token count ({@code token} -1). Equal items in equal order mean equal cells.
     */
    record Item(int token, String media, int cells, int positions) {
        static Item text(int token) {
            return new Item(token, null, 1, 1);
        }

        static Item image(String key, int cells, int positions) {
            return new Item(-1, key, cells, positions);
        }
    }

    /** A point to roll back to. */
    record Mark(int nPast, long cells, int turns, int items) {
    }

    private final MemorySegment ctx;
    private final int seqId;
    private final List<ChatMessage> turns = new ArrayList<>();
    private final List<Item> items = new ArrayList<>();
    private volatile List<ChatMessage> history = List.of();
    private int nPast;             // next position (an image advances it by its n_pos, not its token count)
    private volatile long cells;   // cells the KV cache holds

    SequenceState(MemorySegment ctx, int seqId) {
        this.ctx = ctx;
        this.seqId = seqId;
    }

    Mark mark() {
        return new Mark(nPast, cells, turns.size(), items.size());
    }

    /** Forgets every cell, item and turn added since the mark. */
    void rollBack(Mark mark) {
        llama_memory_seq_rm(llama_get_memory(ctx), seqId, mark.nPast(), -1);
        nPast = mark.nPast();
        cells = mark.cells();
        turns.subList(mark.turns(), turns.size()).clear();
        items.subList(mark.items(), items.size()).clear();
    }

    /** Drops any cells a failed or aborted decode left at or after the next position. */
    void discardUndecoded() {
        llama_memory_seq_rm(llama_get_memory(ctx), seqId, nPast, -1);
    }

    /** Makes the turns added so far visible to {@link #history()}. */
    void commit() {
        history = List.copyOf(turns);
    }

    /** Forgets everything. */
    void clear() {
        llama_memory_seq_rm(llama_get_memory(ctx), seqId, -1, -1);
        turns.clear();
        items.clear();
        nPast = 0;
        cells = 0;
        history = List.of();
    }

    /**
     * Takes over cells restored into the context (from a cached prefix or a saved conversation) that hold
     * {@code restored}, dropping any restored cells after them.
     */
    void adopt(List<Item> restored) {
        int positions = 0;
        long count = 0;
        for (Item i : restored) {
            positions += i.positions();
            count += i.cells();
        }
        llama_memory_seq_rm(llama_get_memory(ctx), seqId, positions, -1);
        items.addAll(restored);
        nPast = positions;
        cells = count;
    }

    /** Restores the turns of a saved conversation. */
    void adoptTurns(List<ChatMessage> saved) {
        turns.addAll(saved);
        commit();
    }

    void addTurn(ChatMessage turn) {
        turns.add(turn);
    }

    /** Records decoded text tokens; the next position is now {@code newNPast}. */
    void addText(int[] tokens, int from, int newNPast) {
        for (int i = from; i < tokens.length; i++) {
            items.add(Item.text(tokens[i]));
        }
        nPast = newNPast;
        cells += tokens.length - from;
    }

    /** Records one generated token, decoded at the next position. */
    void addGenerated(int token) {
        items.add(Item.text(token));
        nPast++;
        cells++;
    }

    /** Records a decoded image of {@code imageCells} embeddings; the next position is now {@code newNPast}. */
    void addImage(String key, int imageCells, int newNPast) {
        items.add(Item.image(key, imageCells, newNPast - nPast));
        nPast = newNPast;
        cells += imageCells;
    }

    List<ChatMessage> turns() {
        return turns;
    }

    List<Item> items() {
        return items;
    }

    int nPast() {
        return nPast;
    }

    long cells() {
        return cells;
    }

    /** The committed turns: those of every question that finished (any thread). */
    List<ChatMessage> history() {
        return history;
    }
}
