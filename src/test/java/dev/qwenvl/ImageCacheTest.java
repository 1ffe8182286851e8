package dev.qwenvl;

import dev.qwenvl.testing.ModelPair;
import dev.qwenvl.testing.Spec;
import dev.qwenvl.testing.TestImages;
import dev.qwenvl.testing.TinyModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The model's image-embedding cache: a hit answers byte for byte as a cold encode, bounded, keyed on content. */
class ImageCacheTest {
    private static final SamplingOptions GREEDY = SamplingOptions.greedy().withMaxTokens(24);
    private static final ModelOptions OPTIONS = ModelOptions.defaults().withThreads(2)
            .withFlashAttention(ModelOptions.FlashAttention.DISABLED)
            .withPrefixCacheBytes(0); // else the second conversation takes the first one's cells, image and all

    @TempDir
    Path dir;

    @Test
    void aCachedImageAnswersExactlyAsAColdEncode() {
        ModelPair pair = TinyModels.pair(Spec.tiny(Spec.Projector.QWEN25VL));
        Image image = Image.read(TestImages.gradient(dir.resolve("g.png"), 640, 480));
        Message question = Message.of("Describe the image.", image);
        Generation uncached;
        try (VisionLanguageModel model = VisionLanguageModel.load(pair.text(), pair.mmproj(),
                OPTIONS.withImageCacheBytes(0))) {
            uncached = ask(model, question);
            assertEquals(0, model.imageCacheStats().entries(), "a cache of 0 bytes holds nothing");
        }
        try (VisionLanguageModel model = VisionLanguageModel.load(pair.text(), pair.mmproj(), OPTIONS)) {
            Generation cold = ask(model, question);
            Generation hit = ask(model, Message.of("Describe the image.", Image.read(dir.resolve("g.png"))));
            assertEquals(0, cold.stats().cachedImages());
            assertEquals(1, hit.stats().cachedImages(), "the same pixels, read again, hit the cache");
            assertTrue(hit.stats().imageEncodeTime().isZero(), "no encode on a hit");
            assertEquals(cold.stats().imageTokens(), hit.stats().imageTokens());
            assertEquals(uncached.text(), cold.text());
            assertEquals(cold.text(), hit.text(), "a cache hit answers byte for byte as a cold encode");
            ImageCacheStats stats = model.imageCacheStats();
            assertEquals(1, stats.hits());
            assertEquals(1, stats.misses());
            assertEquals(1, stats.entries());
            assertEquals(4L * model.embeddingLength() * cold.stats().imageTokens(), stats.bytes());
        }
    }

    @Test
    void evictsTheLeastRecentlyUsedImageBeyondTheBound() {
        ModelPair pair = TinyModels.pair(Spec.tiny(Spec.Projector.QWEN25VL));
        Image first = Image.read(TestImages.gradient(dir.resolve("a.png"), 640, 480));
        Image second = Image.read(TestImages.checkerboard(dir.resolve("b.png"), 640, 480, 37));
        long oneImage;
        try (VisionLanguageModel model = VisionLanguageModel.load(pair.text(), pair.mmproj(), OPTIONS)) {
            ask(model, Message.of("Hi", first));
            oneImage = model.imageCacheStats().bytes();
        }
        try (VisionLanguageModel model = VisionLanguageModel.load(pair.text(), pair.mmproj(),
                OPTIONS.withImageCacheBytes(oneImage + oneImage / 2))) {
            Generation a = ask(model, Message.of("Hi", first));
            Generation b = ask(model, Message.of("Hi", second));
            assertNotEquals(a.text(), b.text(), "same size, other pixels: another image, not a hit");
            assertEquals(0, b.stats().cachedImages());
            assertEquals(1, model.imageCacheStats().evictions(), "room for one image: the first went");
            assertEquals(1, model.imageCacheStats().entries());
            assertEquals(1, ask(model, Message.of("Hi", second)).stats().cachedImages());
            assertEquals(0, ask(model, Message.of("Hi", first)).stats().cachedImages(), "evicted, so encoded again");
        }
    }

    private static Generation ask(VisionLanguageModel model, Message question) {
        try (Conversation chat = model.newConversation()) {
            return chat.ask(question, GREEDY);
        }
    }
}
