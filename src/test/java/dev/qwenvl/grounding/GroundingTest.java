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
import dev.qwenvl.testing.TestImages;
import dev.qwenvl.testing.TinyModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import javax.imageio.ImageIO;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The grounding prompt and options, drawing checked pixel by pixel, and the whole path on the tiny model. */
class GroundingTest {
    private static final int GREY = 0x777777;

    @TempDir
    Path tmp;

    @Test
    void promptIsQwensCookbookDetectionPrompt() {
        assertEquals("Locate every instance that belongs to the following categories: 'traffic sign, car'. Report"
                + " bbox coordinates in JSON format.", Grounding.prompt(List.of("traffic sign", " car ")));
        assertThrows(IllegalArgumentException.class, () -> Grounding.prompt(List.of()));
        assertThrows(IllegalArgumentException.class, () -> Grounding.prompt(List.of("car", " ")));
    }

    @Test
    void modelOptionsRaiseTheImageTokenMinimumUnlessOneWasChosen() {
        ModelOptions raised = Grounding.modelOptions(ModelOptions.defaults());
        assertEquals(1024, raised.imageMinTokens());
        assertEquals(0, raised.imageMaxTokens());
        ModelOptions capped = Grounding.modelOptions(ModelOptions.defaults().withImageTokens(0, 512));
        assertEquals(512, capped.imageMinTokens());
        assertEquals(512, capped.imageMaxTokens());
        ModelOptions chosen = ModelOptions.defaults().withImageTokens(200, 0);
        assertEquals(chosen, Grounding.modelOptions(chosen));
    }

    @Test
    void boxEdgesArePaintedWhereTheMappingPutsThem() {
        ImageGeometry g = ImageGeometryTest.reference(640, 480, 14, 8, 4096); // frame 644x476, picture x 4..639
        List<Detection> found = Grounding.parse("[{\"bbox_2d\": [105, 118, 405, 357], \"label\": \"car\"},"
                + " {\"bbox_2d\": [450.5, 300.5, 600.5, 420.5], \"label\": \"sign\"},"
                + " {\"point_2d\": [322, 60], \"label\": \"p\"}]", g, 0);
        BufferedImage original = uniform(640, 480);
        BufferedImage drawn = Grounding.draw(original, found);
        assertEquals(GREY, original.getRGB(100, 200) & 0xFFFFFF, "the original is not drawn on");
        assertEquals(640, drawn.getWidth());
        assertEquals(480, drawn.getHeight());
        int line = 3; // bands 3 pixels wide for a 480-pixel short side

        // car: (105-4)*640/635 = 101.8 .. (405-4)*640/635 = 404.2, 118*480/476 = 118.99 .. 357*480/476 = 360.0
        int car = checkBox(drawn, 101, 118, 404, 359, line);
        // sign: 450.5 -> 450.0 .. 600.5 -> 601.2, 300.5 -> 303.03 .. 420.5 -> 424.03
        int sign = checkBox(drawn, 450, 303, 601, 424, line);
        assertNotEquals(car, sign, "labels get distinct colours");
        int point = drawn.getRGB((int) ((322 - 4) * 640 / 635.0), (int) (60 * 480 / 476.0)) & 0xFFFFFF;
        assertTrue(point != GREY && point != car && point != sign, "the point is a disc of a third colour");

        BufferedImage fromImage = Grounding.draw(Image.ofRgb(640, 480, greyRgb(640, 480)), found);
        for (int y = 0; y < 480; y += 7) {
            for (int x = 0; x < 640; x += 5) {
                assertEquals(drawn.getRGB(x, y), fromImage.getRGB(x, y), "Image and BufferedImage draw alike");
            }
        }
    }

    @Test
    void labelsFitOnTinyAndHugeImages() {
        for (int[] size : new int[][] {{16, 16}, {64, 20}, {3000, 2000}}) {
            int w = size[0];
            int h = size[1];
            ImageGeometry g = ImageGeometryTest.reference(w, h, 14, 8, 4096);
            List<Detection> found = Grounding.parse("<|object_ref_start|>a rather long label<|object_ref_end|>"
                    + "<|box_start|>(100,100),(900,900)<|box_end|>", g, 0);
            BufferedImage drawn = Grounding.draw(uniform(w, h), found);
            Set<Integer> colours = new HashSet<>();
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    colours.add(drawn.getRGB(x, y) & 0xFFFFFF);
                }
            }
            assertTrue(colours.size() >= 3, w + "x" + h + ": box, tag and text colours beside the grey");
        }
    }

    @Test
    void theTinyModelsAnswerParsesAndDrawsOntoTheOriginal() throws IOException {
        ModelPair pair = TinyModels.pair(Spec.tiny(Spec.Projector.QWEN25VL));
        Path png = TestImages.gradient(tmp.resolve("street.png"), 200, 120);
        Image photo = Image.read(png);
        ModelOptions options = Grounding.modelOptions(ModelOptions.defaults().withThreads(2).withWarmup(false)
                .withFlashAttention(ModelOptions.FlashAttention.DISABLED));
        try (VisionLanguageModel model = VisionLanguageModel.load(pair.text(), pair.mmproj(), options);
             Conversation chat = model.newConversation()) {
            Generation answer = chat.ask(Message.of(Grounding.prompt(List.of("traffic sign", "car")), photo),
                    SamplingOptions.greedy().withMaxTokens(16));
            ImageGeometry g = answer.stats().images().get(0);
            assertEquals(ImageGeometryTest.reference(200, 120, 14, 1024, 4096), g);
            assertTrue(g.tokens() >= 1024, "grounding options give the image at least 1024 tokens: " + g);
            assertEquals(g.tokens(), answer.stats().imageTokens());
            List<Detection> found = Grounding.parse(answer);
            Path out = tmp.resolve("boxes.png");
            Grounding.writePng(Grounding.draw(photo, found), out);
            BufferedImage written = ImageIO.read(out.toFile());
            assertEquals(200, written.getWidth());
            assertEquals(120, written.getHeight());
            assertThrows(IllegalArgumentException.class, () -> Grounding.parse(answer, 1));
            Generation followUp = chat.ask(Message.of("And the bus?"), SamplingOptions.greedy().withMaxTokens(2));
            assertThrows(IllegalArgumentException.class, () -> Grounding.parse(followUp));
        }
    }

    /**
     * Checks the four edges of a box drawn from column {@code left} to {@code right}, row {@code top} to
     * {@code bottom} (inclusive) with bands {@code line} wide inside it; returns its colour.
     */
    private static int checkBox(BufferedImage img, int left, int top, int right, int bottom, int line) {
        int midY = (top + bottom) / 2;
        int midX = (left + right) / 2;
        int c = img.getRGB(left, midY) & 0xFFFFFF;
        assertNotEquals(GREY, c, "left edge at column " + left);
        for (int k = 0; k < line; k++) {
            assertEquals(c, img.getRGB(left + k, midY) & 0xFFFFFF, "left band");
            assertEquals(c, img.getRGB(right - k, midY) & 0xFFFFFF, "right band");
            assertEquals(c, img.getRGB(midX, bottom - k) & 0xFFFFFF, "bottom band");
            assertEquals(c, img.getRGB(midX, top + k) & 0xFFFFFF, "top band");
        }
        assertEquals(GREY, img.getRGB(left - 1, midY) & 0xFFFFFF, "outside the left edge");
        assertEquals(GREY, img.getRGB(left + line, midY) & 0xFFFFFF, "inside the left edge");
        assertEquals(GREY, img.getRGB(right + 1, midY) & 0xFFFFFF, "outside the right edge");
        assertEquals(GREY, img.getRGB(right - line, midY) & 0xFFFFFF, "inside the right edge");
        assertEquals(GREY, img.getRGB(midX, bottom + 1) & 0xFFFFFF, "outside the bottom edge");
        assertEquals(GREY, img.getRGB(midX, bottom - line) & 0xFFFFFF, "inside the bottom edge");
        assertEquals(GREY, img.getRGB(midX, top + line) & 0xFFFFFF, "inside the top edge");
        return c;
    }

    private static BufferedImage uniform(int w, int h) {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                img.setRGB(x, y, GREY);
            }
        }
        return img;
    }

    private static byte[] greyRgb(int w, int h) {
        byte[] rgb = new byte[w * h * 3];
        java.util.Arrays.fill(rgb, (byte) 0x77);
        return rgb;
    }
}
