package dev.qwenvl;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The conversation contract under any call order, in a child JVM: every public method called from inside the
 * answer's own listener and stream consumer, close racing close, streams closed at random moments, turns that
 * leave nothing to sample. Each is defined behaviour (it works, or an {@link IllegalStateException} or
 * {@link PromptException} says why), never a crash, a hang or a silently inconsistent conversation.
 */
class HostileContractTest {
    private static final SamplingOptions ENDLESS = SamplingOptions.defaults().withSeed(3).withMaxTokens(3000);
    private static final SamplingOptions FEW = SamplingOptions.greedy().withMaxTokens(6);
    private static Path dir;

    @BeforeAll
    static void tinyPair(@TempDir Path tmp) {
        dir = tmp;
        HostileChild.tinyPair();
    }

    @TestFactory
    Stream<DynamicTest> everyCallOrderIsDefined() {
        Map<String, HostileJvm.Outcome> outcomes = new HostileJvm(dir, 300).run("contract", List.of());
        HostileJvm.report("contract", "The conversation contract under any call order", outcomes);
        return HostileJvm.asTests(outcomes);
    }

    // --- the child side ---

    static Map<String, HostileChild.Case> cases(List<String> args) {
        ModelOptions options = ModelOptions.defaults().withThreads(1).withContextSize(1024).withWarmup(false);
        VisionLanguageModel shared = HostileChild.tinyModel(options);
        Map<String, HostileChild.Case> cases = new LinkedHashMap<>();

        cases.put("close-from-onText", () -> {
            Conversation c = shared.newConversation();
            Generation g = c.ask(Message.of("Tell me everything."), ENDLESS, onceAfter(3, c::close));
            assertEquals(StopReason.CANCELLED, g.stopReason());
            assertThrows(IllegalStateException.class, () -> c.ask(Message.of("Hi"), FEW));
            return "the ask returned " + g.stopReason() + " after " + g.stats().generatedTokens()
                    + " tokens; the conversation is closed";
        });
        cases.put("model-close-from-onText", () -> {
            VisionLanguageModel m = HostileChild.tinyModel(options);
            Conversation c = m.newConversation();
            Conversation other = m.newConversation();
            Generation g = c.ask(Message.of("Tell me everything."), ENDLESS, onceAfter(3, m::close));
            assertEquals(StopReason.CANCELLED, g.stopReason());
            assertThrows(IllegalStateException.class, () -> other.ask(Message.of("Hi"), FEW));
            assertThrows(IllegalStateException.class, m::newConversation);
            return "the ask returned " + g.stopReason() + "; the model and both conversations are closed";
        });
        cases.put("ask-from-onText", () -> {
            try (Conversation c = shared.newConversation()) {
                AtomicReference<Throwable> inner = new AtomicReference<>();
                Generation g = c.ask(Message.of("Hi"), FEW, onceAfter(1, () -> {
                    try {
                        c.ask(Message.of("Again"), FEW);
                    } catch (Throwable t) {
                        inner.set(t);
                    }
                }));
                assertTrue(inner.get() instanceof IllegalStateException, "inner ask: " + inner.get());
                assertEquals(2, c.history().size(), "one question and its answer: " + c.history());
                assertEquals(StopReason.MAX_TOKENS, g.stopReason());
                return "IllegalStateException: " + inner.get().getMessage() + "; the outer answer completed";
            }
        });
        cases.put("reset-from-onText", () -> {
            try (Conversation c = shared.newConversation()) {
                AtomicReference<Throwable> inner = new AtomicReference<>();
                c.ask(Message.of("Hi"), FEW, onceAfter(1, () -> {
                    try {
                        c.reset();
                    } catch (Throwable t) {
                        inner.set(t);
                    }
                }));
                assertTrue(inner.get() instanceof IllegalStateException, "inner reset: " + inner.get());
                long used = c.tokensUsed();
                Generation again = c.ask(Message.of("And?"), FEW);
                assertTrue(c.tokensUsed() > used, "the KV cache still holds the first turn and grows");
                assertEquals(4, c.history().size());
                return "IllegalStateException; the history and the KV cache stay consistent ("
                        + again.stopReason() + ")";
            }
        });
        cases.put("cancel-from-onText", () -> {
            try (Conversation c = shared.newConversation()) {
                Generation g = c.ask(Message.of("Tell me everything."), ENDLESS, onceAfter(3, c::cancel));
                assertEquals(StopReason.CANCELLED, g.stopReason());
                Generation next = c.ask(Message.of("Hi"), FEW);
                assertEquals(StopReason.MAX_TOKENS, next.stopReason());
                return "stopped after " + g.stats().generatedTokens() + " tokens; the next question is answered";
            }
        });
        cases.put("close-from-stream-consumer", () -> {
            Conversation c = shared.newConversation();
            List<String> seen = new ArrayList<>();
            try (Stream<String> s = c.stream(Message.of("Tell me everything."), ENDLESS)) {
                s.limit(100).forEach(piece -> {
                    seen.add(piece);
                    if (seen.size() == 3) {
                        c.close();
                    }
                });
            }
            assertTrue(seen.size() <= 4, "the stream ends at the close: " + seen.size() + " pieces");
            assertThrows(IllegalStateException.class, () -> c.ask(Message.of("Hi"), FEW));
            return "the stream ended after " + seen.size() + " pieces; the conversation is closed";
        });
        cases.put("model-close-from-stream-consumer", () -> {
            VisionLanguageModel m = HostileChild.tinyModel(options);
            Conversation c = m.newConversation();
            List<String> seen = new ArrayList<>();
            try (Stream<String> s = c.stream(Message.of("Tell me everything."), ENDLESS)) {
                s.limit(100).forEach(piece -> {
                    seen.add(piece);
                    if (seen.size() == 3) {
                        m.close();
                    }
                });
            }
            assertThrows(IllegalStateException.class, m::newConversation);
            return "the stream ended after " + seen.size() + " pieces; the model is closed";
        });
        cases.put("ask-and-reset-from-stream-consumer", () -> {
            try (Conversation c = shared.newConversation()) {
                List<Throwable> inner = new ArrayList<>();
                try (Stream<String> s = c.stream(Message.of("Hi"), FEW)) {
                    s.forEach(piece -> {
                        for (Runnable call : List.<Runnable>of(() -> c.ask(Message.of("Again"), FEW), c::reset)) {
                            try {
                                call.run();
                            } catch (Throwable t) {
                                inner.add(t);
                            }
                        }
                    });
                }
                assertTrue(!inner.isEmpty() && inner.stream().allMatch(t -> t instanceof IllegalStateException),
                        "inner calls: " + inner);
                assertEquals(2, c.history().size(), "one question and its answer: " + c.history());
                return inner.size() + " IllegalStateExceptions; the streamed answer completed";
            }
        });
        for (boolean warmup : new boolean[]{true, false}) {
            cases.put("empty-template-warmup-" + (warmup ? "on" : "off"), () -> {
                try (VisionLanguageModel m = HostileChild.tinyModel(options.withWarmup(warmup));
                     Conversation c = m.newConversation(ConversationOptions.defaults().withJinja(true)
                             .withTemplate("{{ '' }}"))) {
                    PromptException e = assertThrows(PromptException.class, () -> c.ask(Message.of("Hi"), FEW));
                    assertEquals(0, c.tokensUsed());
                    assertEquals(List.of(), c.history());
                    return "PromptException: " + e.getMessage();
                }
            });
        }
        cases.put("conversation-close-races-model-close-200", () -> {
            Random random = new Random(9);
            for (int round = 0; round < 200; round++) {
                VisionLanguageModel m = HostileChild.tinyModel(options.withContextSize(256));
                Conversation c = m.newConversation();
                if (round % 4 == 0) {
                    c.ask(Message.of("Hi"), SamplingOptions.greedy().withMaxTokens(1));
                }
                CountDownLatch go = new CountDownLatch(1);
                CompletableFuture<Void> a = CompletableFuture.runAsync(() -> await(go, c::close));
                CompletableFuture<Void> b = CompletableFuture.runAsync(() -> await(go, m::close));
                if (random.nextBoolean()) {
                    Thread.onSpinWait();
                }
                go.countDown();
                CompletableFuture.allOf(a, b).get(30, TimeUnit.SECONDS);
            }
            return "200 rounds of conversation close racing model close";
        });
        for (String moment : List.of("before-start", "mid-prefill", "mid-generation")) {
            cases.put("stream-closed-" + moment, () -> {
                Image image = Image.of(new BufferedImage(640, 480, BufferedImage.TYPE_INT_RGB));
                try (Conversation c = shared.newConversation()) {
                    Stream<String> s = c.stream(Message.of("Describe it at length.", image), ENDLESS);
                    CompletableFuture<Long> consumed = new CompletableFuture<>();
                    if (!moment.equals("before-start")) {
                        Thread.ofPlatform().start(() -> {
                            try {
                                consumed.complete(s.count());
                            } catch (Throwable t) {
                                consumed.completeExceptionally(t);
                            }
                        });
                        Thread.sleep(moment.equals("mid-prefill") ? 5 : 400);
                    }
                    long t0 = System.nanoTime();
                    s.close();
                    long closeMillis = (System.nanoTime() - t0) / 1_000_000;
                    if (!moment.equals("before-start")) {
                        consumed.get(30, TimeUnit.SECONDS);
                    }
                    Generation next = c.ask(Message.of("Hi"), FEW);
                    assertEquals(StopReason.MAX_TOKENS, next.stopReason(), "usable after the closed stream");
                    int turns = c.history().size();
                    assertTrue(turns == 2 || turns == 4, "whole turns only: " + c.history());
                    return "close returned in " + closeMillis + " ms; " + turns / 2 + " question(s) kept";
                }
            });
        }
        cases.put("tokensUsed-from-another-thread", () -> {
            try (Conversation c = shared.newConversation()) {
                CompletableFuture<Generation> answer = CompletableFuture.supplyAsync(
                        () -> c.ask(Message.of("Tell me everything."), SamplingOptions.greedy().withMaxTokens(200)));
                long last = 0;
                int reads = 0;
                while (!answer.isDone() && reads < 1_000_000) {
                    long used = c.tokensUsed();
                    assertTrue(used >= last, "tokensUsed never goes back while answering");
                    last = used;
                    reads++;
                }
                answer.get(60, TimeUnit.SECONDS);
                return reads + " reads while answering, never decreasing";
            }
        });
        cases.put("system-prompt-with-NUL", () -> {
            PromptException e = assertThrows(PromptException.class, () -> {
                try (Conversation c = shared.newConversation(ConversationOptions.defaults()
                        .withSystemPrompt("Be brief.\0Ignore that."))) {
                    c.ask(Message.of("Hi"), FEW);
                }
            });
            return "PromptException: " + e.getMessage();
        });
        cases.put("template-override-with-lone-surrogate", () -> {
            PromptException e = assertThrows(PromptException.class, () -> {
                try (Conversation c = shared.newConversation(ConversationOptions.defaults().withJinja(true)
                        .withTemplate("{{ messages[0]['content'] }}\uD800"))) {
                    c.ask(Message.of("Hi"), FEW);
                }
            });
            return "PromptException: " + e.getMessage();
        });
        return cases;
    }

    /** A listener that runs {@code action} once, after {@code n} pieces. */
    private static Consumer<String> onceAfter(int n, Runnable action) {
        int[] seen = {0};
        return piece -> {
            if (++seen[0] == n) {
                action.run();
            }
        };
    }

    private static void await(CountDownLatch go, Runnable then) {
        try {
            go.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        }
        then.run();
    }
}
