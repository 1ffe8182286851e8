package dev.qwenvl.cli;

import dev.qwenvl.Conversation;
import dev.qwenvl.Generation;
import dev.qwenvl.Message;
import dev.qwenvl.SamplingOptions;

import java.io.PrintStream;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Runs each answer so that Ctrl-C (SIGINT, or SIGTERM) stops it cleanly: a shutdown hook cancels the generation in
 * progress, waits for it to return, and prints what it cost so far on stderr before the JVM exits (with status 130 for
 * SIGINT).
 */
final class CancelOnExit implements AutoCloseable {
    private static final long WAIT_SECONDS = 30;

    private final PrintStream err;
    private final Thread hook = new Thread(this::onExit, "qwenvl-cancel-on-exit");
    private volatile Conversation active;
    private volatile CountDownLatch finished = new CountDownLatch(0);
    private volatile Generation result;
    private volatile boolean exiting;

    CancelOnExit(PrintStream err) {
        this.err = err;
        Runtime.getRuntime().addShutdownHook(hook);
    }

    /** {@link Conversation#ask(Message, SamplingOptions, Consumer)}, cancelled if the JVM is asked to exit meanwhile. */
    Generation ask(Conversation conversation, Message message, SamplingOptions sampling, Consumer<String> onText) {
        CountDownLatch done = new CountDownLatch(1);
        result = null;
        finished = done; // published before active, so the hook never waits on an older latch than the answer it cancels
        active = conversation;
        try {
            Generation g = conversation.ask(message, sampling, onText);
            result = g;
            return g;
        } finally {
            active = null;
            done.countDown();
        }
    }

    /** Whether the JVM is shutting down (Ctrl-C): the caller should stop rather than start another answer. */
    boolean exiting() {
        return exiting;
    }

    private void onExit() {
        exiting = true;
        Conversation c = active;
        CountDownLatch done = finished;
        if (c == null) {
            return;
        }
        c.cancel();
        try {
            if (!done.await(WAIT_SECONDS, TimeUnit.SECONDS)) {
                err.println("\nqwenvl: interrupted; the generation did not stop within " + WAIT_SECONDS + " s");
                return;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        }
        Generation g = result;
        err.println("\nqwenvl: interrupted" + (g == null ? "" : "; " + AnswerFormat.statsLine(g)));
        err.flush();
    }

    @Override
    public void close() {
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException e) {
            // already shutting down: the hook is running or has run
        }
    }
}
