package dev.qwenvl.server;

import dev.qwenvl.Conversation;
import dev.qwenvl.ConversationOptions;
import dev.qwenvl.VisionLanguageModel;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * {@code parallel} conversations of one model, each served by its own platform thread (a native call pins a virtual
 * thread's carrier, so generation stays off Jetty's virtual threads), with a bounded queue of waiting requests.
 * Each request gets an empty conversation, reset as the previous request on it ended (which hands its cells to the
 * model's prefix cache); the prefix and image caches let it reuse what an earlier request on any conversation
 * computed for the same beginning or the same image.
 */
final class ConversationPool implements AutoCloseable {
    private final List<Conversation> all = new ArrayList<>();
    private final BlockingQueue<Conversation> free;
    private final ThreadPoolExecutor executor;
    private final AtomicInteger processing = new AtomicInteger();

    ConversationPool(VisionLanguageModel model, ConversationOptions options, int parallel, int queue) {
        free = new ArrayBlockingQueue<>(parallel);
        try {
            for (int i = 0; i < parallel; i++) {
                Conversation c = model.newConversation(options);
                all.add(c);
                free.add(c);
            }
        } catch (RuntimeException e) {
            all.forEach(Conversation::close);
            throw e;
        }
        AtomicInteger n = new AtomicInteger();
        executor = new ThreadPoolExecutor(parallel, parallel, 0, TimeUnit.SECONDS,
                queue == 0 ? new SynchronousQueue<>() : new LinkedBlockingQueue<>(queue),
                r -> Thread.ofPlatform().name("qwenvl-slot-" + n.incrementAndGet()).daemon().unstarted(r));
        executor.prestartAllCoreThreads();
    }

    /**
     * Runs {@code work} with a reset conversation as soon as one is free.
     *
     * @throws ApiException 503 when {@code parallel} requests run and the queue is full
     */
    Future<?> submit(Consumer<Conversation> work) {
        try {
            return executor.submit(() -> {
                Conversation c = free.remove(); // one per slot thread: never empty here
                processing.incrementAndGet();
                try {
                    c.reset(); // empty already, unless the reset after its last request failed
                    work.accept(c);
                } finally {
                    processing.decrementAndGet();
                    try { // now, not when this conversation is next taken: the chat's next turn may go to another
                        c.reset();
                    } finally {
                        free.add(c);
                    }
                }
            });
        } catch (RejectedExecutionException e) {
            throw ApiException.unavailable("server_busy", executor.isShutdown() ? "the server is stopping"
                    : "all " + all.size() + " conversations are busy and " + executor.getQueue().size()
                    + " requests wait; retry later");
        }
    }

    /** Forgets a request that has not started yet, freeing its place in the queue. */
    void withdraw(Future<?> queued) {
        queued.cancel(false);
        executor.getQueue().remove(queued);
    }

    int processing() {
        return processing.get();
    }

    int queued() {
        return executor.getQueue().size();
    }

    /** Cancels what runs, drops what waits, and closes the conversations. */
    @Override
    public void close() {
        executor.shutdownNow();
        all.forEach(Conversation::cancel);
        try {
            executor.awaitTermination(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        all.forEach(Conversation::close);
    }
}
