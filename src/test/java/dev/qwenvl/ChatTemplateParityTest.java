package dev.qwenvl;

import dev.qwenvl.testing.ModelPair;
import dev.qwenvl.testing.ReferenceCli;
import dev.qwenvl.testing.Spec;
import dev.qwenvl.testing.TestImages;
import dev.qwenvl.testing.TinyModels;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.TestInstance;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every chat template in the pinned tree's models/templates/, and Qwen2.5-VL's own, renders a fixed conversation
 * (system prompt, then a user message with an image) as llama-mtmd-cli renders it with {@code --chat-template-file}
 * under Jinja: the greedy answers, which depend on every prompt token, are identical, and a template the CLI rejects
 * is rejected by the facade too.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ChatTemplateParityTest {
    private static final String SYSTEM = "You read road signs.";
    private static final String PROMPT = "Can I get 110 km by 13:00?";
    private static final int TOKENS = 6;
    private ModelPair pair;
    private Path png;
    private VisionLanguageModel model;
    private final List<String> rendered = new ArrayList<>();
    private final List<String> rejected = new ArrayList<>();

    @BeforeAll
    void load() throws IOException {
        pair = TinyModels.pair(Spec.tiny(Spec.Projector.QWEN25VL));
        png = TestImages.gradient(Files.createTempFile("qwenvl-template", ".png"), 64, 64);
        model = VisionLanguageModel.load(pair.text(), pair.mmproj(), ModelOptions.defaults().withThreads(2)
                .withFlashAttention(ModelOptions.FlashAttention.DISABLED));
    }

    @AfterAll
    void close() throws IOException {
        mostTemplatesRendered();
        model.close();
        Files.deleteIfExists(png);
    }

    @TestFactory
    Stream<DynamicTest> templatesRenderAsLlamaCppRendersThem() throws IOException {
        Path dir = Path.of(System.getProperty(TinyModels.LLAMA_SRC_PROPERTY), "models", "templates");
        List<Path> templates = new ArrayList<>();
        try (Stream<Path> files = Files.list(dir)) {
            files.filter(p -> p.toString().endsWith(".jinja")).sorted().forEach(templates::add);
        }
        templates.add(Path.of(System.getProperty("qwenvl.repo"), "src", "test", "resources", "templates",
                "qwen2.5-vl.jinja"));
        assertTrue(templates.size() > 60, "expected llama.cpp's template collection in " + dir);
        return templates.stream().map(t -> DynamicTest.dynamicTest(t.getFileName().toString(), () -> compare(t)));
    }

    private void compare(Path template) throws IOException {
        String text = Files.readString(template, StandardCharsets.UTF_8);
        // llama-mtmd-cli takes --chat-template (the text), not --chat-template-file
        ReferenceCli.Result cli = ReferenceCli.run(pair, png, PROMPT, TOKENS, "--jinja", "--chat-template", text,
                "-sys", SYSTEM);
        String ours;
        try (Conversation chat = model.newConversation(ConversationOptions.defaults().withJinja(true)
                .withTemplate(text).withSystemPrompt(SYSTEM))) {
            Generation g = chat.ask(Message.of(PROMPT, Image.read(png)), SamplingOptions.greedy().withMaxTokens(TOKENS));
            // the CLI prints "\n" after evaluating each message (system and user), then the answer
            ours = "\n" + g.text() + (g.stopReason() == StopReason.END_OF_GENERATION ? "\n" : "");
        } catch (PromptException e) {
            assertTrue(cli.exitCode() != 0, () -> "the facade rejected the template (" + e.getMessage()
                    + ") but llama-mtmd-cli accepted it");
            assertTrue(!cli.stderr().contains("invalid argument"), cli::stderrTail);
            rejected.add(template.getFileName().toString());
            return;
        }
        assertEquals(0, cli.exitCode(), () -> "llama-mtmd-cli rejected the template but the facade accepted it: "
                + cli.stderrTail());
        assertEquals(new String(cli.response(), StandardCharsets.UTF_8), ours);
        rendered.add(template.getFileName().toString());
    }

    private void mostTemplatesRendered() {
        System.out.println("chat templates rendered identically: " + rendered.size() + "; rejected by both: "
                + rejected);
        // a template both sides reject proves little; most of llama.cpp's collection must render and match
        assertTrue(rendered.size() >= 50, () -> rendered.size() + " rendered, rejected by both: " + rejected);
    }
}
