package dev.qwenvl;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The facade used wrongly, in a child JVM: after close, from two threads at once, closed under a running generation.
 * Each misuse is an {@link IllegalStateException} or an orderly stop, never a crash or a hang.
 */
class HostileMisuseTest {
    /** Sampling at temperature 1 over a random 151,936-token vocabulary: end-of-generation is all but impossible. */
    private static final SamplingOptions ENDLESS = SamplingOptions.defaults().withSeed(3).withMaxTokens(3000);
    private static final SamplingOptions TWO = SamplingOptions.greedy().withMaxTokens(2);
    private static Path dir;

    @BeforeAll
    static void tinyPair(@TempDir Path tmp) {
        dir = tmp;
        HostileChild.tinyPair();
    }

    @TestFactory
    Stream<DynamicTest> everyMisuseIsAnOrderlyError() {
        Map<String, HostileJvm.Outcome> outcomes = new HostileJvm(dir, 180).run("misuse", List.of());
        HostileJvm.report("misuse", "Misuse of models and conversations", outcomes);
        return HostileJvm.asTests(outcomes);
    }

    // --- the child side: each case asserts what it expects and returns what it saw ---

    static Map<String, HostileChild.Case> cases(List<String> args) {
        ModelOptions options = ModelOptions.defaults().withThreads(1).withContextSize(1024).withWarmup(false);
        VisionLanguageModel shared = HostileChild.tinyModel(options);
        Map<String, HostileChild.Case> cases = new LinkedHashMap<>();
        cases.put("model-use-after-close", () -> {
            VisionLanguageModel m = HostileChild.tinyModel(options);
            m.close();
            IllegalStateException e = assertThrows(IllegalStateException.class, m::newConversation);
            assertThrows(IllegalStateException.class, m::chatTemplate);
            m.close();
            return "IllegalStateException: " + e.getMessage() + "; second close harmless";
        });
        cases.put("conversation-use-after-close", () -> {
            Conversation c = shared.newConversation();
            c.ask(Message.of("Hi"), TWO);
            c.close();
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> c.ask(Message.of("Hi"), TWO));
            assertThrows(IllegalStateException.class, c::reset);
            assertThrows(IllegalStateException.class, c::history);
            assertThrows(IllegalStateException.class, () -> c.stream(Message.of("Hi"), TWO));
            c.cancel();
            c.close();
            return "IllegalStateException: " + e.getMessage() + "; cancel and second close harmless";
        });
        cases.put("model-close-closes-conversations", () -> {
            VisionLanguageModel m = HostileChild.tinyModel(options);
            List<Conversation> open = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                open.add(m.newConversation());
            }
            open.get(0).ask(Message.of("Hi"), TWO);
            m.close();
            for (Conversation c : open) {
                IllegalStateException e = assertThrows(IllegalStateException.class,
                        () -> c.ask(Message.of("Hi"), TWO));
                assertTrue(e.getMessage().contains("closed"), e.getMessage());
                c.close();
            }
            return "5 conversations closed with their model; use throws IllegalStateException";
        });
        cases.put("close-conversation-during-generation", () -> {
            Conversation c = shared.newConversation();
            Running run = Running.start(c);
            long t0 = System.nanoTime();
            c.close();
            long closeMillis = (System.nanoTime() - t0) / 1_000_000;
            Object result = run.result.get(10, TimeUnit.SECONDS);
            assertTrue(result instanceof Generation g && g.stopReason() == StopReason.CANCELLED
                    || result instanceof IllegalStateException, "the generation ends orderly: " + result);
            assertThrows(IllegalStateException.class, () -> c.ask(Message.of("Hi"), TWO));
            return "close returned in " + closeMillis + " ms; the generation ended with " + describe(result);
        });
        cases.put("close-model-during-generation", () -> {
            VisionLanguageModel m = HostileChild.tinyModel(options);
            Conversation c = m.newConversation();
            Running run = Running.start(c);
            long t0 = System.nanoTime();
            m.close();
            long closeMillis = (System.nanoTime() - t0) / 1_000_000;
            Object result = run.result.get(10, TimeUnit.SECONDS);
            assertTrue(result instanceof Generation g && g.stopReason() == StopReason.CANCELLED,
                    "the generation stops: " + result);
            assertThrows(IllegalStateException.class, () -> c.ask(Message.of("Hi"), TWO));
            return "model close returned in " + closeMillis + " ms; the generation ended with " + describe(result);
        });
        cases.put("concurrent-ask-on-one-conversation", () -> {
            try (Conversation c = shared.newConversation()) {
                Running run = Running.start(c);
                IllegalStateException e = assertThrows(IllegalStateException.class,
                        () -> c.ask(Message.of("Me too"), TWO));
                assertThrows(IllegalStateException.class, c::reset);
                c.cancel();
                Object result = run.result.get(10, TimeUnit.SECONDS);
                assertTrue(result instanceof Generation g && g.stopReason() == StopReason.CANCELLED, "" + result);
                assertEquals(2, c.ask(Message.of("Hi"), TWO).stats().generatedTokens());
                return "second thread: IllegalStateException: " + e.getMessage();
            }
        });
        cases.put("cancel-from-another-thread", () -> {
            try (Conversation c = shared.newConversation()) {
                Running run = Running.start(c);
                int seen = run.pieces.get();
                c.cancel();
                Object result = run.result.get(10, TimeUnit.SECONDS);
                Generation g = (Generation) result;
                assertEquals(StopReason.CANCELLED, g.stopReason());
                // the loop checks the flag before each token; one decode may be in flight when it is set
                assertTrue(g.stats().generatedTokens() <= seen + 2, g.stats().generatedTokens() + " tokens after "
                        + seen + " pieces at cancel");
                Generation next = c.ask(Message.of("Hi"), TWO);
                assertEquals(StopReason.MAX_TOKENS, next.stopReason(), "usable after cancel");
                return "stopped at " + g.stats().generatedTokens() + " tokens (" + seen + " seen at cancel);"
                        + " next question answered";
            }
        });
        cases.put("cancel-before-ask-is-forgotten", () -> {
            try (Conversation c = shared.newConversation()) {
                c.cancel();
                Generation g = c.ask(Message.of("Hi"), TWO);
                assertEquals(StopReason.MAX_TOKENS, g.stopReason());
                return "a cancel with nothing running does not cancel the next question";
            }
        });
        cases.put("stream-closed-early", () -> {
            try (Conversation c = shared.newConversation()) {
                List<String> first;
                try (Stream<String> s = c.stream(Message.of("Go on"), ENDLESS)) {
                    first = s.limit(3).toList();
                }
                assertEquals(3, first.size());
                assertEquals(StopReason.MAX_TOKENS, c.ask(Message.of("Hi"), TWO).stopReason());
                return "closing the stream after 3 pieces cancels it; the conversation answers next";
            }
        });
        cases.put("callback-throws", () -> {
            try (Conversation c = shared.newConversation()) {
                AtomicInteger calls = new AtomicInteger();
                IllegalStateException e = assertThrows(IllegalStateException.class, () -> c.ask(Message.of("Hi"),
                        ENDLESS, piece -> {
                            if (calls.incrementAndGet() == 3) {
                                throw new IllegalStateException("listener failed");
                            }
                        }));
                assertEquals("listener failed", e.getMessage());
                assertEquals(List.of(), c.history(), "the failed question is rolled back");
                assertEquals(0, c.tokensUsed(), "and its tokens leave the context");
                Generation next = c.ask(Message.of("Hi"), TWO);
                assertEquals(StopReason.MAX_TOKENS, next.stopReason());
                return "the listener's exception propagates, the question is rolled back (no turns, no tokens),"
                        + " and the next question is answered";
            }
        });
        cases.put("many-conversations-then-model-close", () -> {
            VisionLanguageModel m = HostileChild.tinyModel(options.withContextSize(256));
            List<Conversation> open = new ArrayList<>();
            for (int i = 0; i < 40; i++) {
                open.add(m.newConversation());
            }
            m.close();
            open.forEach(Conversation::close);
            return "40 open conversations closed by the model's close";
        });
        return cases;
    }

    private static String describe(Object result) {
        return result instanceof Generation g ? g.stopReason() + " after " + g.stats().generatedTokens() + " tokens"
                : result.getClass().getSimpleName() + ": " + ((Throwable) result).getMessage();
    }

    /** An endless generation on its own thread, started and known to be producing tokens. */
    private record Running(CompletableFuture<Object> result, AtomicInteger pieces) {
        static Running start(Conversation c) throws InterruptedException {
            CompletableFuture<Object> result = new CompletableFuture<>();
            AtomicInteger pieces = new AtomicInteger();
            CountDownLatch producing = new CountDownLatch(5);
            Thread.ofPlatform().name("hostile-generation").start(() -> {
                try {
                    result.complete(c.ask(Message.of("Tell me everything."), ENDLESS, piece -> {
                        pieces.incrementAndGet();
                        producing.countDown();
                    }));
                } catch (Throwable t) {
                    result.complete(t);
                }
            });
            assertTrue(producing.await(30, TimeUnit.SECONDS) || result.isDone(), "the generation started");
            assertTrue(!result.isDone(), "still generating: " + result.getNow(null));
            return new Running(result, pieces);
        }
    }
}
