package dev.qwenvl;

import dev.qwenvl.testing.ModelPair;
import dev.qwenvl.testing.Spec;
import dev.qwenvl.testing.TestImages;
import dev.qwenvl.testing.TinyModels;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Conversations decoded together in one shared context answer what each answers alone (greedy tokens; the logits of
 * a batch of several rows are not bit-identical, so equal tokens is the promise), whatever their start times, and
 * cancels and closes among them neither crash nor disturb the others.
 */
class ParallelSequencesTest {
    private static final SamplingOptions GREEDY = SamplingOptions.greedy().withMaxTokens(24);
    private static final ModelOptions SOLO = ModelOptions.defaults().withThreads(2).withContextSize(1024)
            .withFlashAttention(ModelOptions.FlashAttention.DISABLED).withPrefixCacheBytes(0).withImageCacheBytes(0);
    private static final String[] PROMPTS = {"Describe the image.", "What colour dominates?", "Count the shapes.",
            "Is it a photograph?", "Write a caption.", "What is at the top?", "Name one object.", "Is it bright?"};

    @TempDir
    Path dir;

    @ParameterizedTest(name = "{0} sequences")
    @ValueSource(ints = {2, 4, 8})
    void togetherEachAnswersAsAlone(int n) throws Exception {
        ModelPair pair = TinyModels.pair(Spec.tiny(Spec.Projector.QWEN25VL));
        List<Message> questions = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Path png = i % 2 == 0 ? TestImages.gradient(dir.resolve("g" + i + ".png"), 64 + 40 * i, 64 + 24 * i)
                    : TestImages.checkerboard(dir.resolve("c" + i + ".png"), 300 - 20 * i, 200 + 10 * i, 11 + i);
            questions.add(i == 3 ? Message.of(PROMPTS[i]) : Message.of(PROMPTS[i], Image.read(png)));
        }
        List<String> alone = new ArrayList<>();
        try (VisionLanguageModel model = VisionLanguageModel.load(pair.text(), pair.mmproj(), SOLO)) {
            for (Message q : questions) {
                try (Conversation c = model.newConversation()) {
                    alone.add(c.ask(q, GREEDY).text());
                }
            }
        }
        try (VisionLanguageModel model = VisionLanguageModel.load(pair.text(), pair.mmproj(),
                SOLO.withParallelSequences(n));
             ExecutorService threads = Executors.newFixedThreadPool(n)) {
            List<Future<String>> together = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                Message q = questions.get(i);
                int delay = 37 * i; // staggered: some join while others are mid-answer
                boolean followUp = i < 2;
                together.add(threads.submit(() -> {
                    Thread.sleep(delay);
                    try (Conversation c = model.newConversation()) {
                        String first = c.ask(q, GREEDY).text();
                        if (followUp) {
                            c.ask(Message.of("And then?"), GREEDY); // a second turn, decoded beside the others
                        }
                        return first;
                    }
                }));
            }
            for (int i = 0; i < n; i++) {
                assertEquals(alone.get(i), together.get(i).get(300, TimeUnit.SECONDS),
                        "conversation " + i + " of " + n + " answers as alone");
            }
        }
    }

    /** llama.cpp books a decode when the context synchronizes; an answer's last round reads no logits. */
    @Test
    void llamaCppCountsEveryRoundOfAnAnswerItsLastToo() {
        ModelPair pair = TinyModels.pair(Spec.tiny(Spec.Projector.QWEN25VL));
        try (VisionLanguageModel model = VisionLanguageModel.load(pair.text(), pair.mmproj(),
                SOLO.withParallelSequences(2));
             Conversation chat = model.newConversation()) {
            BenchAccess.resetPerf(chat);
            Generation g = chat.ask(Message.of("Count to twenty."), SamplingOptions.greedy().withMaxTokens(16));
            assertEquals(StopReason.MAX_TOKENS, g.stopReason());
            BenchAccess.Perf perf = BenchAccess.perf(chat);
            assertEquals(g.stats().promptTokens(), perf.promptEvalTokens(), "the prompt, in one batch");
            assertEquals(16, perf.evalRuns(), "each generated token decoded alone, the last one included");
        }
    }

    /**
     * ggml's OpenMP gives every thread that computes a worker pool of its own, whose workers take the name of that
     * thread and live as long as it does: when whichever conversation came first ran the rounds, each conversation
     * thread kept a pool. The shared context's decoder thread runs every round, so four conversation threads hold
     * none.
     */
    @Test
    void theRoundsRunOnTheDecoderThreadSoConversationThreadsHoldNoWorkerPool() throws Exception {
        Path tasks = Path.of("/proc/self/task");
        Assumptions.assumeTrue(Files.isDirectory(tasks), "counts the process's threads by name in /proc");
        ModelPair pair = TinyModels.pair(Spec.tiny(Spec.Projector.QWEN25VL));
        int n = 4;
        CyclicBarrier answered = new CyclicBarrier(n + 1);
        CyclicBarrier counted = new CyclicBarrier(n + 1);
        try (VisionLanguageModel model = VisionLanguageModel.load(pair.text(), pair.mmproj(),
                SOLO.withParallelSequences(n))) {
            List<Thread> askers = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                String prompt = PROMPTS[i];
                askers.add(Thread.ofPlatform().name("ask-" + i).start(() -> {
                    try (Conversation c = model.newConversation()) {
                        c.ask(Message.of(prompt), GREEDY);
                        answered.await(60, TimeUnit.SECONDS);
                        counted.await(60, TimeUnit.SECONDS); // alive, with any pool of its own, until counted
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                }));
            }
            answered.await(120, TimeUnit.SECONDS);
            List<String> named;
            try (Stream<Path> all = Files.list(tasks)) {
                named = all.map(t -> {
                    try {
                        return Files.readString(t.resolve("comm")).strip();
                    } catch (IOException e) {
                        return ""; // a thread that ended meanwhile
                    }
                }).filter(name -> name.startsWith("ask-")).sorted().toList();
            }
            counted.await(60, TimeUnit.SECONDS);
            for (Thread t : askers) {
                t.join(60_000);
            }
            assertEquals(List.of("ask-0", "ask-1", "ask-2", "ask-3"), named,
                    "the conversation threads and no pool workers named after them");
        }
    }

    @Test
    void aQuestionIsAnsweredBesideAnAnswerInProgress() throws Exception {
        ModelPair pair = TinyModels.pair(Spec.tiny(Spec.Projector.QWEN25VL));
        Message quick = Message.of("Name one colour, and say why you chose it.");
        Message tale = Message.of("Tell a long story.");
        SamplingOptions story = SamplingOptions.greedy().withMaxTokens(900);
        String quickAlone;
        Generation storyAlone;
        try (VisionLanguageModel model = VisionLanguageModel.load(pair.text(), pair.mmproj(), SOLO)) {
            try (Conversation c = model.newConversation()) {
                quickAlone = c.ask(quick, GREEDY).text();
            }
            try (Conversation c = model.newConversation()) {
                storyAlone = c.ask(tale, story);
            }
        }
        assertTrue(storyAlone.stats().generatedTokens() >= 300, "the story is long enough to ask beside it: "
                + storyAlone.stats().generatedTokens() + " tokens");
        try (VisionLanguageModel model = VisionLanguageModel.load(pair.text(), pair.mmproj(),
                SOLO.withParallelSequences(2));
             ExecutorService threads = Executors.newSingleThreadExecutor();
             Conversation busy = model.newConversation();
             Conversation asker = model.newConversation()) {
            CountDownLatch started = new CountDownLatch(1);
            AtomicInteger pieces = new AtomicInteger();
            Future<Generation> told = threads.submit(() -> busy.ask(tale, story, piece -> {
                pieces.incrementAndGet();
                started.countDown();
            }));
            assertTrue(started.await(60, TimeUnit.SECONDS), "the story started");
            // the question's prompt goes into the rounds of the story in progress instead of waiting for its end
            assertEquals(quickAlone, asker.ask(quick, GREEDY).text(), "the question answers as alone");
            assertTrue(!told.isDone(), "the question was answered while the story was told (" + pieces.get()
                    + " of its pieces so far)");
            assertEquals(storyAlone.text(), told.get(120, TimeUnit.SECONDS).text(), "the story tells as alone");
        }
    }

    @Test
    void cancelsAndClosesAmongThemDisturbNoOne() throws Exception {
        ModelPair pair = TinyModels.pair(Spec.tiny(Spec.Projector.QWEN25VL));
        Message q = Message.of("Describe the image.", Image.read(TestImages.gradient(dir.resolve("g.png"), 200, 120)));
        String alone;
        try (VisionLanguageModel model = VisionLanguageModel.load(pair.text(), pair.mmproj(), SOLO);
             Conversation c = model.newConversation()) {
            alone = c.ask(q, GREEDY).text();
        }
        try (VisionLanguageModel model = VisionLanguageModel.load(pair.text(), pair.mmproj(),
                SOLO.withParallelSequences(4));
             ExecutorService threads = Executors.newFixedThreadPool(4)) {
            Conversation steady = model.newConversation();
            Future<String> kept = threads.submit(() -> steady.ask(q, GREEDY).text());
            for (int round = 0; round < 6; round++) {
                Conversation doomed = model.newConversation();
                SamplingOptions endless = SamplingOptions.defaults().withSeed(round).withMaxTokens(2000);
                CountDownLatch started = new CountDownLatch(1);
                Future<Generation> cut = threads.submit(() -> doomed.ask(q, endless, piece -> started.countDown()));
                // a cancel before the ask has claimed the conversation has nothing to cancel: wait for its first piece
                assertTrue(started.await(60, TimeUnit.SECONDS), "the doomed answer started");
                Thread.sleep(15 * round);
                if (round % 2 == 0) {
                    doomed.cancel();
                    assertEquals(StopReason.CANCELLED, cut.get(60, TimeUnit.SECONDS).stopReason());
                    doomed.close();
                } else {
                    doomed.close();
                    assertEquals(StopReason.CANCELLED, cut.get(60, TimeUnit.SECONDS).stopReason());
                }
            }
            assertEquals(alone, kept.get(120, TimeUnit.SECONDS), "the steady conversation answers as alone");
            steady.close();
            List<Conversation> four = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                four.add(model.newConversation());
            }
            IllegalStateException e = assertThrows(IllegalStateException.class, model::newConversation);
            assertTrue(e.getMessage().contains("all 4 sequences"), e.getMessage());
            four.forEach(Conversation::close);
            model.newConversation().close();
        }
    }
}
