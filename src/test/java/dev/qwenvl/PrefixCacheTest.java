package dev.qwenvl;

import dev.qwenvl.testing.ModelPair;
import dev.qwenvl.testing.Spec;
import dev.qwenvl.testing.TestImages;
import dev.qwenvl.testing.TinyModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The prefix cache: a conversation that begins as a closed one did takes its cells over, and answers the same. */
class PrefixCacheTest {
    private static final SamplingOptions GREEDY = SamplingOptions.greedy().withMaxTokens(24);
    private static final ModelOptions OPTIONS = ModelOptions.defaults().withThreads(2)
            .withFlashAttention(ModelOptions.FlashAttention.DISABLED);
    private static final ConversationOptions SYSTEM = ConversationOptions.defaults()
            .withSystemPrompt("You describe photographs for blind readers.");

    @TempDir
    Path dir;

    /** Without a system prompt the shared prefix is four text tokens and the image: few items, many cells. */
    @ParameterizedTest(name = "system prompt {0}")
    @ValueSource(booleans = {true, false})
    void aSecondQuestionAboutTheSameImageTakesOverTheCellsAndAnswersAsARecompute(boolean withSystemPrompt) {
        ConversationOptions conversation = withSystemPrompt ? SYSTEM : ConversationOptions.defaults();
        ModelPair pair = TinyModels.pair(Spec.tiny(Spec.Projector.QWEN25VL));
        Image image = Image.read(TestImages.gradient(dir.resolve("g.png"), 640, 480));
        Function<Conversation, Generation> second = c -> c.ask(Message.of("What colour is it?", image), GREEDY);
        Generation recomputed = onFreshModel(pair, OPTIONS.withPrefixCacheBytes(0).withImageCacheBytes(0),
                conversation, second);
        try (VisionLanguageModel model = VisionLanguageModel.load(pair.text(), pair.mmproj(), OPTIONS)) {
            try (Conversation first = model.newConversation(conversation)) {
                assertEquals(0, first.ask(Message.of("Describe the image.", image), GREEDY).stats().cachedTokens());
            }
            Generation reused;
            try (Conversation next = model.newConversation(conversation)) {
                reused = second.apply(next);
            }
            // any system prompt, "<|im_start|>user\n<|vision_start|>", the 391 image cells and <|vision_end|>
            assertTrue(reused.stats().cachedTokens() > 391, "cached " + reused.stats().cachedTokens());
            assertEquals(0, reused.stats().cachedImages(), "the image came with the cells, not from the image cache");
            assertTrue(reused.stats().imageEncodeTime().isZero());
            assertEquals(recomputed.text(), reused.text(), "taken-over cells answer byte for byte as a recompute");
            assertEquals(1, model.prefixCacheStats().hits());
        }
    }

    /**
     * A conversation still open shares what it holds: a second one that begins the same way, opened while the first
     * is still in use (under its own context, and as another sequence of a shared context), takes the cells over and
     * answers as a recompute, and the first goes on answering as it would alone.
     */
    @ParameterizedTest(name = "{0} sequence(s)")
    @ValueSource(ints = {1, 2})
    void aConversationStillOpenSharesItsPrefixWithANewOne(int sequences) {
        ModelPair pair = TinyModels.pair(Spec.tiny(Spec.Projector.QWEN25VL));
        Image image = Image.read(TestImages.gradient(dir.resolve("g.png"), 640, 480));
        ModelOptions options = OPTIONS.withParallelSequences(sequences);
        Function<Conversation, Generation> second = c -> c.ask(Message.of("What colour is it?", image), GREEDY);
        Function<Conversation, Generation> followUp = c -> {
            c.ask(Message.of("Describe the image.", image), GREEDY);
            return c.ask(Message.of("And the corners?"), GREEDY);
        };
        ModelOptions uncached = options.withPrefixCacheBytes(0).withImageCacheBytes(0);
        Generation recomputed = onFreshModel(pair, uncached, SYSTEM, second);
        Generation alone = onFreshModel(pair, uncached, SYSTEM, followUp);
        try (VisionLanguageModel model = VisionLanguageModel.load(pair.text(), pair.mmproj(), options);
             Conversation first = model.newConversation(SYSTEM)) {
            first.ask(Message.of("Describe the image.", image), GREEDY);
            Generation reused;
            try (Conversation next = model.newConversation(SYSTEM)) {
                reused = second.apply(next);
            }
            assertTrue(reused.stats().cachedTokens() > 391, "cached " + reused.stats().cachedTokens());
            assertEquals(recomputed.text(), reused.text(), "cells taken from an open conversation answer as a"
                    + " recompute");
            assertEquals(alone.text(), first.ask(Message.of("And the corners?"), GREEDY).text(),
                    "the open conversation answers on as it would alone");
        }
    }

    @Test
    void aResentChatReusesTheEarlierTurnsCells() {
        ModelPair pair = TinyModels.pair(Spec.tiny(Spec.Projector.QWEN25VL));
        Image image = Image.read(TestImages.checkerboard(dir.resolve("c.png"), 333, 777, 37));
        Message firstQuestion = Message.of("Describe the image.", image);
        String firstAnswer;
        Function<Conversation, Generation> resend;
        try (VisionLanguageModel model = VisionLanguageModel.load(pair.text(), pair.mmproj(), OPTIONS)) {
            try (Conversation first = model.newConversation()) {
                firstAnswer = first.ask(firstQuestion, GREEDY).text();
            }
            resend = c -> {
                c.append(Role.USER, firstQuestion);
                c.append(Role.ASSISTANT, Message.of(firstAnswer));
                return c.ask(Message.of("Tell me more."), GREEDY);
            };
            Generation reused;
            try (Conversation again = model.newConversation()) {
                reused = resend.apply(again);
                assertEquals(4, again.history().size(), "two questions and their answers: " + again.history());
            }
            assertTrue(reused.stats().cachedTokens() >= 12 * 28, "the image's cells at least: "
                    + reused.stats().cachedTokens());
            Generation recomputed = onFreshModel(pair, OPTIONS.withPrefixCacheBytes(0),
                    ConversationOptions.defaults(), resend);
            assertEquals(0, recomputed.stats().cachedTokens());
            assertEquals(recomputed.stats().promptTokens(), reused.stats().promptTokens());
            assertEquals(recomputed.text(), reused.text(), "the resent chat answers as without the cache");
        }
    }

    private static Generation onFreshModel(ModelPair pair, ModelOptions options, ConversationOptions conversation,
                                           Function<Conversation, Generation> q) {
        try (VisionLanguageModel model = VisionLanguageModel.load(pair.text(), pair.mmproj(), options);
             Conversation c = model.newConversation(conversation)) {
            return q.apply(c);
        }
    }
}
