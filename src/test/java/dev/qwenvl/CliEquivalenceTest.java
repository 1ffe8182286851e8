package dev.qwenvl;

import dev.qwenvl.testing.ModelPair;
import dev.qwenvl.testing.ReferenceCli;
import dev.qwenvl.testing.Spec;
import dev.qwenvl.testing.Spec.Projector;
import dev.qwenvl.testing.Spec.Weights;
import dev.qwenvl.testing.TestImages;
import dev.qwenvl.testing.TinyModels;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The facade's answers equal llama-mtmd-cli's, byte for byte, on the same files and the same shared libraries:
 * greedy and seeded sampling, both projector types, F16 and quantized weights, several image sizes, two images in one
 * message, a two-turn chat, a system prompt, and the Jinja path on Qwen2.5-VL's real template.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class CliEquivalenceTest {
    private static final String PROMPT = "Describe the image.";
    private static final int TOKENS = 32;
    private Path images;

    @BeforeAll
    void makeImages() throws IOException {
        images = Files.createTempDirectory("qwenvl-equivalence");
    }

    @AfterAll
    void removeImages() throws IOException {
        try (var files = Files.walk(images)) {
            for (Path p : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }

    @ParameterizedTest(name = "{0} {1} {2}x{3}")
    @CsvSource({
            "QWEN25VL, F16,    64,  64",
            "QWEN25VL, F16,    640, 480",
            "QWEN25VL, Q8_0,   1000, 200",
            "QWEN25VL, Q4_K_M, 333, 777",
            "QWEN2VL,  F16,    640, 480",
            "QWEN2VL,  Q8_0,   64,  64",
            "QWEN2VL,  Q4_K_M, 1000, 200",
    })
    void greedyAnswerEqualsTheCli(Projector projector, Weights weights, int width, int height) {
        ModelPair pair = TinyModels.pair(Spec.tiny(projector).withWeights(weights));
        Path png = image("gradient", width, height);
        ReferenceCli.Result cli = ReferenceCli.run(pair, png, PROMPT, TOKENS);
        Generation ours = askOnce(pair, ConversationOptions.defaults(), SamplingOptions.greedy().withMaxTokens(TOKENS),
                Message.of(PROMPT, Image.read(png)));
        assertSameAnswer(cli, ours);
    }

    @Test
    void twoImagesInOneMessage() {
        ModelPair pair = TinyModels.pair(Spec.tiny(Projector.QWEN25VL));
        Path first = image("gradient", 64, 64);
        Path second = image("checker", 333, 777);
        ReferenceCli.Result cli = ReferenceCli.run(pair, first, "Compare the two images.", TOKENS,
                "--image", second.toString());
        Generation ours = askOnce(pair, ConversationOptions.defaults(), SamplingOptions.greedy().withMaxTokens(TOKENS),
                Message.of("Compare the two images.", Image.read(first), Image.read(second)));
        assertSameAnswer(cli, ours);
        assertEquals(9 + 12 * 28, ours.stats().imageTokens(), "3x3 and 12x28 merged patches");
    }

    @Test
    void seededSamplingWithDefaultParameters() {
        ModelPair pair = TinyModels.pair(Spec.tiny(Projector.QWEN25VL));
        Path png = image("gradient", 640, 480);
        // no sampling flags at all: llama-mtmd-cli's own defaults (temperature 0.2, top-k 40, ...) and a seed
        ReferenceCli.Result cli = ReferenceCli.exec(List.of("-m", pair.text().toString(), "--mmproj",
                pair.mmproj().toString(), "--image", png.toString(), "-p", PROMPT, "-n", Integer.toString(TOKENS),
                "-fa", "off", "-t", "2", "--seed", "1234"), "", null);
        Generation ours = askOnce(pair, ConversationOptions.defaults(),
                SamplingOptions.defaults().withSeed(1234).withMaxTokens(TOKENS), Message.of(PROMPT, Image.read(png)));
        assertSameAnswer(cli, ours);
        Generation greedy = askOnce(pair, ConversationOptions.defaults(), SamplingOptions.greedy().withMaxTokens(TOKENS),
                Message.of(PROMPT, Image.read(png)));
        assertNotEquals(greedy.text(), ours.text(), "sampling at temperature 0.2 left the greedy path");
    }

    @Test
    void jinjaPathOnTheRealQwenTemplate() {
        ModelPair pair = TinyModels.pair(Spec.tiny(Projector.QWEN25VL).withTemplate(Spec.Template.QWEN25VL));
        Path png = image("gradient", 640, 480);
        ReferenceCli.Result cli = ReferenceCli.run(pair, png, PROMPT, TOKENS, "--jinja");
        Generation ours = askOnce(pair, ConversationOptions.defaults().withJinja(true),
                SamplingOptions.greedy().withMaxTokens(TOKENS), Message.of(PROMPT, Image.read(png)));
        assertSameAnswer(cli, ours);
        Generation plain = askOnce(pair, ConversationOptions.defaults(), SamplingOptions.greedy().withMaxTokens(TOKENS),
                Message.of(PROMPT, Image.read(png)));
        assertSameAnswer(ReferenceCli.run(pair, png, PROMPT, TOKENS), plain); // the CLI's default: no Jinja
        assertTrue(ours.stats().promptTokens() > plain.stats().promptTokens() + 5,
                "under Jinja Qwen's template adds its default system prompt");
    }

    @Test
    void systemPrompt() {
        ModelPair pair = TinyModels.pair(Spec.tiny(Projector.QWEN2VL));
        Path png = image("checker", 640, 480);
        ReferenceCli.Result cli = ReferenceCli.run(pair, png, PROMPT, TOKENS, "-sys", "You read road signs.");
        Generation ours = askOnce(pair, ConversationOptions.defaults().withSystemPrompt("You read road signs."),
                SamplingOptions.greedy().withMaxTokens(TOKENS), Message.of(PROMPT, Image.read(png)));
        // the CLI prints one more "\n" for the system message it evaluated
        assertEquals("\n" + expectedText(ours), new String(cli.response(), StandardCharsets.UTF_8));
    }

    @Test
    void twoTurnChatKeepsTheImageInTheKvCache() {
        ModelPair pair = TinyModels.pair(Spec.tiny(Projector.QWEN25VL));
        Path png = image("gradient", 333, 777);
        String followUp = "What colour is it?";
        List<String> cliAnswers = ReferenceCli.chat(List.of("-m", pair.text().toString(), "--mmproj",
                pair.mmproj().toString(), "-n", Integer.toString(TOKENS), "--temp", "0", "-fa", "off", "-t", "2"),
                List.of("/image " + png), List.of(PROMPT, followUp));
        assertEquals(2, cliAnswers.size());
        ModelOptions options = ModelOptions.defaults().withThreads(2)
                .withFlashAttention(ModelOptions.FlashAttention.DISABLED);
        try (VisionLanguageModel model = VisionLanguageModel.load(pair.text(), pair.mmproj(), options);
             Conversation chat = model.newConversation()) {
            SamplingOptions greedy = SamplingOptions.greedy().withMaxTokens(TOKENS);
            Generation first = chat.ask(Message.of(PROMPT, Image.read(png)), greedy);
            Generation second = chat.ask(Message.of(followUp), greedy);
            assertEquals(cliAnswers.get(0), expectedText(first));
            assertEquals(cliAnswers.get(1), expectedText(second));
            assertEquals(0, second.stats().imageTokens(), "the follow-up re-encodes nothing");
        }
    }

    @Test
    void seededThreeTurnChatEqualsTheCliChatMode() {
        ModelPair pair = TinyModels.pair(Spec.tiny(Projector.QWEN25VL));
        Path png = image("checker", 640, 480);
        List<String> questions = List.of(PROMPT, "Tell me more.", "And then?");
        // one sampler for the whole chat on both sides: its random state runs on from turn to turn
        List<String> cliAnswers = ReferenceCli.chat(List.of("-m", pair.text().toString(), "--mmproj",
                pair.mmproj().toString(), "-n", Integer.toString(TOKENS), "--temp", "1", "--seed", "1234", "-fa",
                "off", "-t", "2"), List.of("/image " + png), questions);
        assertEquals(3, cliAnswers.size());
        ModelOptions options = ModelOptions.defaults().withThreads(2)
                .withFlashAttention(ModelOptions.FlashAttention.DISABLED);
        SamplingOptions seeded = SamplingOptions.defaults().withTemperature(1).withSeed(1234).withMaxTokens(TOKENS);
        try (VisionLanguageModel model = VisionLanguageModel.load(pair.text(), pair.mmproj(), options);
             Conversation chat = model.newConversation()) {
            List<String> ours = new ArrayList<>();
            ours.add(expectedText(chat.ask(Message.of(PROMPT, Image.read(png)), seeded)));
            ours.add(expectedText(chat.ask(Message.of(questions.get(1)), seeded)));
            ours.add(expectedText(chat.ask(Message.of(questions.get(2)), seeded)));
            assertEquals(cliAnswers, ours);
        }
    }

    @Test
    void plainTextMessagesTokenizeOrdinaryTextAsTheCliDoes() {
        ModelPair pair = TinyModels.pair(Spec.tiny(Projector.QWEN25VL));
        Path png = image("gradient", 640, 480);
        ReferenceCli.Result cli = ReferenceCli.run(pair, png, PROMPT, TOKENS);
        Generation ours = askOnce(pair, ConversationOptions.defaults().withSpecialTokens(false),
                SamplingOptions.greedy().withMaxTokens(TOKENS), Message.of(PROMPT, Image.read(png)));
        assertSameAnswer(cli, ours);
    }

    @Test
    void differentImagesGiveDifferentAnswers() {
        ModelPair pair = TinyModels.pair(Spec.tiny(Projector.QWEN25VL));
        Generation a = askOnce(pair, ConversationOptions.defaults(), SamplingOptions.greedy().withMaxTokens(TOKENS),
                Message.of(PROMPT, Image.read(image("gradient", 640, 480))));
        Generation b = askOnce(pair, ConversationOptions.defaults(), SamplingOptions.greedy().withMaxTokens(TOKENS),
                Message.of(PROMPT, Image.read(image("checker", 640, 480))));
        assertNotEquals(a.text(), b.text(), "the answer must depend on the image");
        assertEquals(23 * 17, a.stats().imageTokens(), "640x480 becomes 23x17 merged patches");
    }

    private static Generation askOnce(ModelPair pair, ConversationOptions conversation, SamplingOptions sampling,
                                      Message message) {
        ModelOptions options = ModelOptions.defaults().withThreads(2)
                .withFlashAttention(ModelOptions.FlashAttention.DISABLED);
        try (VisionLanguageModel model = VisionLanguageModel.load(pair.text(), pair.mmproj(), options);
             Conversation chat = model.newConversation(conversation)) {
            List<String> streamed = new ArrayList<>();
            Generation g = chat.ask(message, sampling, streamed::add);
            assertEquals(g.text(), String.join("", streamed), "streamed pieces add up to the answer");
            return g;
        }
    }

    /** The CLI prints "\n", the pieces, "\n" if an end-of-generation token stopped it, then "\n\n". */
    static void assertSameAnswer(ReferenceCli.Result cli, Generation ours) {
        assertEquals(0, cli.exitCode(), cli::stderrTail);
        byte[] expected = cli.response();
        String text = expectedText(ours);
        assertEquals(new String(expected, StandardCharsets.UTF_8), text, "answer differs from llama-mtmd-cli's");
        if (StandardCharsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(expected), java.nio.CharBuffer.allocate(
                expected.length), true).isUnderflow()) {
            assertEquals(java.util.HexFormat.of().formatHex(expected),
                    java.util.HexFormat.of().formatHex(text.getBytes(StandardCharsets.UTF_8)), "bytes differ");
        }
        assertTrue(ours.stats().generatedTokens() > 0);
    }

    /** What the CLI prints for an answer: the pieces, and "\n" if an end-of-generation token stopped it. */
    private static String expectedText(Generation g) {
        return g.text() + (g.stopReason() == StopReason.END_OF_GENERATION ? "\n" : "");
    }

    private Path image(String kind, int width, int height) {
        Path file = images.resolve(kind + "-" + width + "x" + height + ".png");
        if (Files.exists(file)) {
            return file;
        }
        return kind.equals("gradient") ? TestImages.gradient(file, width, height)
                : TestImages.checkerboard(file, width, height, 37);
    }
}
