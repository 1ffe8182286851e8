package dev.qwenvl.grounding;

import dev.qwenvl.Conversation;
import dev.qwenvl.Generation;
import dev.qwenvl.Image;
import dev.qwenvl.ImageGeometry;
import dev.qwenvl.Message;
import dev.qwenvl.ModelOptions;
import dev.qwenvl.SamplingOptions;
import dev.qwenvl.VisionLanguageModel;
import dev.qwenvl.testing.ModelPair;
import dev.qwenvl.testing.Spec;
import dev.qwenvl.testing.TinyModels;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The frame and padding libmtmd reports for an image, against an independent Java rendering of llama.cpp's rule
 * ({@code calc_size_preserved_ratio} then {@code img_tool::resize} with {@code PAD_CEIL}, tools/mtmd/mtmd-image.cpp),
 * over a few hundred image sizes with llama.cpp's default token bounds and with bounds set through ModelOptions.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ImageGeometryTest {
    private static final int PATCH = 14; // Spec.tiny's clip.vision.patch_size, as Qwen2-VL's and Qwen2.5-VL's
    private static final int DEFAULT_MIN_TOKENS = 8; // clip.cpp: set_limit_image_tokens(8, 4096) for Qwen-VL
    private static final int DEFAULT_MAX_TOKENS = 4096;
    private ModelPair pair;

    @BeforeAll
    void fixture() {
        pair = TinyModels.pair(Spec.tiny(Spec.Projector.QWEN25VL));
    }

    /** Token bounds as ModelOptions takes them (0 = llama.cpp's default) and the sizes tried under them. */
    private record Bounds(int min, int max, List<int[]> sizes) {
    }

    @Test
    void framesAndContentMatchLlamaCppsRuleOverManySizes() {
        Random random = new Random(12);
        List<int[]> edges = edgeSizes();
        List<Bounds> all = List.of(
                new Bounds(0, 0, concat(edges, randomSizes(random, 110, 2400))),
                new Bounds(1024, 0, concat(edges, randomSizes(random, 40, 1600))),
                new Bounds(16, 64, concat(edges, randomSizes(random, 40, 1600))));
        Set<String> distinct = new LinkedHashSet<>();
        int cases = 0;
        List<String> mismatches = new ArrayList<>();
        for (Bounds b : all) {
            ModelOptions options = ModelOptions.defaults().withThreads(2).withWarmup(false)
                    .withImageTokens(b.min(), b.max());
            try (VisionLanguageModel model = VisionLanguageModel.load(pair.text(), pair.mmproj(), options)) {
                int min = b.min() > 0 ? b.min() : DEFAULT_MIN_TOKENS;
                int max = b.max() > 0 ? b.max() : DEFAULT_MAX_TOKENS;
                for (int[] size : b.sizes()) {
                    int w = size[0];
                    int h = size[1];
                    ImageGeometry actual = model.imageGeometry(blank(w, h));
                    ImageGeometry expected = reference(w, h, PATCH, min, max);
                    if (!actual.equals(expected)) {
                        mismatches.add(w + "x" + h + " tokens " + min + ".." + max + ": libmtmd " + actual
                                + ", rule " + expected);
                    }
                    distinct.add(w + "x" + h);
                    cases++;
                }
            }
        }
        System.out.printf("ImageGeometryTest: %d cases over %d distinct image sizes, %d mismatches%n", cases,
                distinct.size(), mismatches.size());
        assertTrue(distinct.size() >= 200, "at least 200 image sizes, got " + distinct.size());
        assertEquals(List.of(), mismatches);
    }

    @Test
    void statsReportTheGeometryOfEachImageInMessageOrder() {
        Image wide = blank(300, 40);
        Image tall = blank(30, 90);
        ModelOptions options = ModelOptions.defaults().withThreads(2).withWarmup(false)
                .withFlashAttention(ModelOptions.FlashAttention.DISABLED);
        try (VisionLanguageModel model = VisionLanguageModel.load(pair.text(), pair.mmproj(), options);
             Conversation chat = model.newConversation()) {
            Generation g = chat.ask(Message.of("Compare them.", wide, tall), SamplingOptions.greedy().withMaxTokens(2));
            assertEquals(List.of(reference(300, 40, PATCH, 8, 4096), reference(30, 90, PATCH, 8, 4096)),
                    g.stats().images());
            assertEquals(List.of(model.imageGeometry(wide), model.imageGeometry(tall)), g.stats().images());
            assertEquals(g.stats().imageTokens(), g.stats().images().stream().mapToInt(ImageGeometry::tokens).sum());
            Generation followUp = chat.ask(Message.of("And now?"), SamplingOptions.greedy().withMaxTokens(2));
            assertEquals(List.of(), followUp.stats().images(), "no image in the follow-up question");
        }
    }

    @Test
    void boxesMapBackOntoTheOriginalAndForwardAgainWithinAPixel() {
        Random random = new Random(7);
        for (int[] size : concat(edgeSizes(), randomSizes(random, 200, 5000))) {
            ImageGeometry g = reference(size[0], size[1], PATCH, DEFAULT_MIN_TOKENS, DEFAULT_MAX_TOKENS);
            for (int k = 0; k < 5; k++) {
                // a box inside the content rectangle of the frame, as a model would draw it
                double x1 = g.contentX() + random.nextDouble() * g.contentWidth();
                double y1 = g.contentY() + random.nextDouble() * g.contentHeight();
                double x2 = x1 + random.nextDouble() * (g.contentX() + g.contentWidth() - x1);
                double y2 = y1 + random.nextDouble() * (g.contentY() + g.contentHeight() - y1);
                for (double[] corner : new double[][] {{x1, y1}, {x2, y2}}) {
                    ImageGeometry.Mapped original = g.frameToOriginal(corner[0], corner[1]);
                    assertTrue(!original.clamped(), "inside the content: " + g);
                    ImageGeometry.Mapped back = g.originalToFrame(original.x(), original.y());
                    assertTrue(Math.abs(back.x() - corner[0]) < 1 && Math.abs(back.y() - corner[1]) < 1,
                            "round trip of (" + corner[0] + "," + corner[1] + ") in " + g + " gave " + back);
                }
            }
            ImageGeometry.Mapped topLeft = g.frameToOriginal(g.contentX(), g.contentY());
            ImageGeometry.Mapped bottomRight = g.frameToOriginal(g.contentX() + g.contentWidth(),
                    g.contentY() + g.contentHeight());
            assertEquals(0, topLeft.x(), 1e-9);
            assertEquals(0, topLeft.y(), 1e-9);
            assertEquals(size[0], bottomRight.x(), 1e-6);
            assertEquals(size[1], bottomRight.y(), 1e-6);
            ImageGeometry.Mapped outside = g.frameToOriginal(-5, g.frameHeight() + 5);
            assertTrue(outside.clamped());
            assertEquals(0, outside.x());
            assertEquals(size[1], outside.y());
        }
    }

    /** 1x1, 27x29, ties of the rounding, the pixel limits' edges, extreme aspect ratios. */
    private static List<int[]> edgeSizes() {
        return List.of(new int[] {1, 1}, new int[] {27, 29}, new int[] {28, 28}, new int[] {14, 14},
                new int[] {42, 42}, new int[] {70, 112}, new int[] {69, 112}, new int[] {56, 112}, new int[] {56, 84},
                new int[] {84, 84}, new int[] {1792, 1792}, new int[] {1805, 1792}, new int[] {1806, 1792},
                new int[] {1792, 1793}, new int[] {1820, 1820}, new int[] {2000, 1606}, new int[] {1, 4000},
                new int[] {4000, 1}, new int[] {3, 2900}, new int[] {2900, 5}, new int[] {7000, 30},
                new int[] {13, 3333}, new int[] {640, 480}, new int[] {1920, 1080}, new int[] {1080, 1920},
                new int[] {224, 224}, new int[] {896, 896}, new int[] {1003, 997}, new int[] {2, 3});
    }

    private static List<int[]> randomSizes(Random random, int n, int maxSide) {
        List<int[]> sizes = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            // log-uniform sides, so small images and thin strips are as common as large photos
            sizes.add(new int[] {logUniform(random, maxSide), logUniform(random, maxSide)});
        }
        return sizes;
    }

    private static int logUniform(Random random, int max) {
        return (int) Math.max(1, Math.min(max, Math.round(Math.exp(random.nextDouble() * Math.log(max)))));
    }

    private static List<int[]> concat(List<int[]> a, List<int[]> b) {
        List<int[]> all = new ArrayList<>(a);
        all.addAll(b);
        return all;
    }

    private static Image blank(int w, int h) {
        return Image.ofRgb(w, h, new byte[w * h * 3]);
    }

    /**
     * llama.cpp's rule, written from mtmd-image.cpp without the facade's code: the frame by calc_size_preserved_ratio
     * (align patch x 2, float arithmetic, std::round half away from zero, token bounds as pixels), the content by
     * img_tool::resize's PAD_CEIL branch.
     */
    static ImageGeometry reference(int width, int height, int patch, int minTokens, int maxTokens) {
        int align = patch * 2;
        int minPixels = minTokens * align * align;
        int maxPixels = maxTokens * align * align;
        int wBar = Math.max(align, (int) roundHalfAwayFromZero((float) width / (float) align) * align);
        int hBar = Math.max(align, (int) roundHalfAwayFromZero((float) height / (float) align) * align);
        if (hBar * wBar > maxPixels) {
            float beta = (float) Math.sqrt((float) height * width / maxPixels);
            hBar = Math.max(align, (int) Math.floor(height / beta / (float) align) * align);
            wBar = Math.max(align, (int) Math.floor(width / beta / (float) align) * align);
        } else if (hBar * wBar < minPixels) {
            float beta = (float) Math.sqrt((float) minPixels / ((float) height * width));
            hBar = (int) Math.ceil(height * beta / (float) align) * align;
            wBar = (int) Math.ceil(width * beta / (float) align) * align;
        }
        float scaleW = (float) wBar / width;
        float scaleH = (float) hBar / height;
        float scale = Math.min(scaleW, scaleH);
        int newW = Math.min((int) Math.ceil(width * scale), wBar);
        int newH = Math.min((int) Math.ceil(height * scale), hBar);
        return new ImageGeometry(width, height, wBar, hBar, (wBar - newW) / 2, (hBar - newH) / 2, newW, newH,
                wBar / align, hBar / align);
    }

    /** C's round(): halfway cases away from zero (exact in double for any float). */
    private static double roundHalfAwayFromZero(float x) {
        return Math.signum(x) * Math.floor(Math.abs((double) x) + 0.5);
    }
}
