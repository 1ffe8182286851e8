package dev.qwenvl;

import java.util.ArrayList;
import java.util.List;

/**
 * Who may use a {@link Conversation} now: at most one question (or one idle-only action such as a save) at a time,
 * the turns appended for the next question, and whether it is closed and its natives freed. It alone writes the
 * context's abort flag, under its lock and never after the context is freed. Any thread; nothing here waits.
 */
final class ConversationGate {
    private final ContextHandle context;
    private final Runnable modelOpen; // throws if the model is closed
    private final List<Answer.Turn> pending = new ArrayList<>();
    private Question current;
    private boolean closed;
    private boolean freed;

    ConversationGate(ContextHandle context, Runnable modelOpen) {
        this.context = context;
        this.modelOpen = modelOpen;
    }

    synchronized void append(Answer.Turn turn) {
        checkIdle();
        pending.add(turn);
    }

    synchronized void clearPending() {
        pending.clear();
    }

    /** Claims the conversation for {@code message}, which takes the appended turns with it. */
    synchronized Question claim(Answer.Turn message, SamplingOptions sampling) {
        checkIdle();
        List<Answer.Turn> appended = List.copyOf(pending);
        pending.clear();
        current = new Question(message, appended, sampling);
        context.setAbort(false);
        return current;
    }

    /** Claims the conversation for an action that needs it idle (no question may start meanwhile). */
    synchronized Question claimIdle() {
        checkIdle();
        current = new Question(null, List.of(), SamplingOptions.defaults());
        return current;
    }

    /** Like {@link #claimIdle()}, but null instead of an exception when it is closed or answering. */
    synchronized Question tryClaimIdle() {
        if (closed || current != null) {
            return null;
        }
        current = new Question(null, List.of(), SamplingOptions.defaults());
        return current;
    }

    synchronized void release(Question q) {
        if (current == q) {
            current = null;
        }
    }

    /** Gives the turns a question took back, for the next one (it never evaluated them). */
    synchronized void restorePending(Question q) {
        pending.addAll(0, q.appended());
    }

    /** Cancels the question being answered, if any, and raises the abort flag llama.cpp polls. */
    synchronized void cancel() {
        if (current != null) {
            current.cancel();
            raiseAbort(current);
        }
    }

    synchronized void raiseAbort(Question q) {
        if (current == q && !freed) {
            context.setAbort(true);
        }
    }

    /** Marks it closed and cancels any answer; true the first time. */
    synchronized boolean close() {
        boolean first = !closed;
        closed = true;
        cancel();
        return first;
    }

    synchronized boolean isClosed() {
        return closed;
    }

    synchronized boolean isFreed() {
        return freed;
    }

    /** Whether it is closed and its natives still wait to be freed. */
    synchronized boolean freeDue() {
        return closed && !freed;
    }

    /** Frees the natives with {@code free}, under the lock that guards every abort-flag write. */
    synchronized void markFreed(Runnable free) {
        freed = true;
        free.run();
    }

    /** Throws unless open and not answering. */
    synchronized void checkIdle() {
        checkOpen();
        if (current != null) {
            throw new IllegalStateException(current.driver() == Thread.currentThread()
                    ? "this conversation is answering, and this call comes from inside its own onText listener or"
                    + " stream consumer; only cancel() and close() may be called there: ask again after the answer"
                    + " has returned"
                    : "this conversation is answering on another thread; use one conversation per thread, or wait"
                    + " for the answer");
        }
    }

    void checkOpen() {
        synchronized (this) {
            if (closed) {
                throw new IllegalStateException("this conversation is closed");
            }
        }
        modelOpen.run();
    }
}
