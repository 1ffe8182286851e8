package dev.qwenvl;

import java.util.List;
import java.util.function.Supplier;

/**
 * One question of a {@link Conversation}: what it evaluates, its answer once started, its cancellation, and its end,
 * reached exactly once (completed, keeping what was evaluated, or abandoned, undoing it). Its steps and its end run
 * with the conversation's native lock held; {@link #cancel()}, {@link #cancelled()} and {@link #driver()} from any
 * thread.
 */
final class Question {
    private final Answer.Turn message;  // null for a claim that only keeps questions out (save, reset)
    private final List<Answer.Turn> appended;
    private final SamplingOptions sampling;
    private volatile boolean cancelled;
    private volatile Thread driver;     // the thread running its steps, and so its listener or stream consumer
    private Answer answer;
    private Generation result;
    private boolean ended;

    Question(Answer.Turn message, List<Answer.Turn> appended, SamplingOptions sampling) {
        this.message = message;
        this.appended = appended;
        this.sampling = sampling;
        this.driver = Thread.currentThread();
    }

    Answer.Turn message() {
        return message;
    }

    /** The turns appended before it, evaluated first; they return to the conversation if it never evaluates. */
    List<Answer.Turn> appended() {
        return appended;
    }

    SamplingOptions sampling() {
        return sampling;
    }

    void cancel() {
        cancelled = true;
    }

    boolean cancelled() {
        return cancelled;
    }

    Thread driver() {
        return driver;
    }

    boolean ended() {
        return ended;
    }

    /** Runs one step on this thread, starting the answer with {@code start} first: the next piece, or null. */
    String step(Supplier<Answer> start) {
        if (ended) {
            return null;
        }
        driver = Thread.currentThread();
        if (answer == null) {
            answer = start.get();
        }
        return answer.next();
    }

    /**
     * Ends it keeping what it evaluated and generated ({@code closed}: touching no native state); the same
     * answer however often called. Returns true the first time if its appended turns must go back to the
     * conversation (nothing was evaluated); {@link #result()} has the answer.
     */
    boolean complete(boolean closed) {
        if (ended) {
            return false;
        }
        ended = true;
        if (answer == null) {
            result = Answer.notStarted();
            return true;
        }
        if (closed) {
            result = answer.interrupted();
            return false;
        }
        result = answer.finish();
        return !answer.evaluated();
    }

    /** Ends it undoing what it evaluated (unless {@code closed}); true the first time: its appended turns go back. */
    boolean abandon(boolean closed) {
        if (ended) {
            return false;
        }
        ended = true;
        if (answer != null && !closed) {
            answer.rollBack();
        }
        return true;
    }

    Generation result() {
        return result;
    }
}
