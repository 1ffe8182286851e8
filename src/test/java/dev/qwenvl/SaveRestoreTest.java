package dev.qwenvl;

import dev.qwenvl.testing.ModelPair;
import dev.qwenvl.testing.Spec;
import dev.qwenvl.testing.TestImages;
import dev.qwenvl.testing.TinyModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A conversation saved to a file and restored goes on exactly as if it had never been saved. */
class SaveRestoreTest {
    private static final SamplingOptions GREEDY = SamplingOptions.greedy().withMaxTokens(24);
    private static final ModelOptions OPTIONS = ModelOptions.defaults().withThreads(2)
            .withFlashAttention(ModelOptions.FlashAttention.DISABLED).withPrefixCacheBytes(0);

    @TempDir
    Path dir;

    @Test
    void aRestoredConversationContinuesAsOneNeverSaved() {
        ModelPair pair = TinyModels.pair(Spec.tiny(Spec.Projector.QWEN25VL));
        Image image = Image.read(TestImages.gradient(dir.resolve("g.png"), 333, 777));
        Message first = Message.of("Describe the image.", image);
        Message second = Message.of("What colour is it?");
        Path saved = dir.resolve("chat.qwenvl");
        Generation continued;
        try (VisionLanguageModel model = VisionLanguageModel.load(pair.text(), pair.mmproj(), OPTIONS)) {
            try (Conversation never = model.newConversation()) {
                never.ask(first, GREEDY);
                continued = never.ask(second, GREEDY);
            }
            try (Conversation c = model.newConversation()) {
                c.ask(first, GREEDY);
                c.save(saved);
            }
        }
        // another model instance from the same files: as in another process
        try (VisionLanguageModel model = VisionLanguageModel.load(pair.text(), pair.mmproj(), OPTIONS);
             Conversation restored = model.restore(saved, ConversationOptions.defaults())) {
            assertEquals(2, restored.history().size());
            long used = restored.tokensUsed();
            assertTrue(used > 12 * 28, "the image is back in the KV cache: " + used);
            Generation after = restored.ask(second, GREEDY);
            assertEquals(0, after.stats().imageTokens(), "nothing re-encoded");
            assertEquals(continued.text(), after.text(), "the restored chat answers as the one never saved");
        }
    }

    @Test
    void refusesAFileSavedFromOtherModelFilesOrDamaged() throws IOException {
        ModelPair pair = TinyModels.pair(Spec.tiny(Spec.Projector.QWEN25VL));
        ModelPair other = TinyModels.pair(Spec.tiny(Spec.Projector.QWEN2VL));
        Path saved = dir.resolve("chat.qwenvl");
        try (VisionLanguageModel model = VisionLanguageModel.load(pair.text(), pair.mmproj(), OPTIONS);
             Conversation c = model.newConversation()) {
            c.ask(Message.of("Hi"), GREEDY);
            c.save(saved);
        }
        try (VisionLanguageModel model = VisionLanguageModel.load(other.text(), other.mmproj(), OPTIONS)) {
            StateFileException e = assertThrows(StateFileException.class,
                    () -> model.restore(saved, ConversationOptions.defaults()));
            assertTrue(e.getMessage().contains("other model files"), e.getMessage());
        }
        try (VisionLanguageModel model = VisionLanguageModel.load(pair.text(), pair.mmproj(), OPTIONS)) {
            byte[] bytes = Files.readAllBytes(saved);
            Path truncated = Files.write(dir.resolve("truncated.qwenvl"), Arrays.copyOf(bytes, bytes.length - 100));
            assertTrue(assertThrows(StateFileException.class, () -> model.restore(truncated,
                    ConversationOptions.defaults())).getMessage().contains("truncated"));
            Path junk = Files.write(dir.resolve("junk.qwenvl"), "not a conversation at all".getBytes());
            assertTrue(assertThrows(StateFileException.class, () -> model.restore(junk,
                    ConversationOptions.defaults())).getMessage().contains("not a saved"));
            try (Conversation fine = model.restore(saved, ConversationOptions.defaults())) {
                assertEquals(2, fine.history().size(), "the intact file still restores");
            }
        }
    }
}
