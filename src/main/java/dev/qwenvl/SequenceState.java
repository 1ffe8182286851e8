package dev.qwenvl;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

import static dev.qwenvl.bindings.qwenvl_h.llama_get_memory;
import static dev.qwenvl.bindings.qwenvl_h.llama_memory_clear;
import static dev.qwenvl.bindings.qwenvl_h.llama_memory_seq_rm;

/**
 * The one owner of what a conversation's KV cache holds: the next position, the cells in use and the turns the chat
 * template has seen, with one mark and roll-back. Mutated only by the thread running the conversation's current step;
 * {@link #cells()} and {@link #history()} may be read from any thread.
 */
final class SequenceState {
    /** A point to roll back to. */
    record Mark(int nPast, long cells, int turns) {
    }

    private final MemorySegment ctx;
    private final List<ChatMessage> turns = new ArrayList<>();
    private volatile List<ChatMessage> history = List.of();
    private int nPast;             // next position (an image advances it by its n_pos, not its token count)
    private volatile long cells;   // cells the KV cache holds

    SequenceState(MemorySegment ctx) {
        this.ctx = ctx;
    }

    Mark mark() {
        return new Mark(nPast, cells, turns.size());
    }

    /** Forgets every cell and turn added since the mark. */
    void rollBack(Mark mark) {
        llama_memory_seq_rm(llama_get_memory(ctx), 0, mark.nPast(), -1);
        nPast = mark.nPast();
        cells = mark.cells();
        turns.subList(mark.turns(), turns.size()).clear();
    }

    /** Drops any cells a failed or aborted decode left at or after the next position. */
    void discardUndecoded() {
        llama_memory_seq_rm(llama_get_memory(ctx), 0, nPast, -1);
    }

    /** Makes the turns added so far visible to {@link #history()}. */
    void commit() {
        history = List.copyOf(turns);
    }

    /** Forgets everything. */
    void clear() {
        llama_memory_clear(llama_get_memory(ctx), true);
        turns.clear();
        nPast = 0;
        cells = 0;
        history = List.of();
    }

    void addTurn(ChatMessage turn) {
        turns.add(turn);
    }

    /** Records that {@code added} cells were decoded and the next position is now {@code newNPast}. */
    void advance(int newNPast, long added) {
        nPast = newNPast;
        cells += added;
    }

    List<ChatMessage> turns() {
        return turns;
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
