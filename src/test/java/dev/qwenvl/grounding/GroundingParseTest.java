package dev.qwenvl.grounding;

import dev.qwenvl.ImageGeometry;
import dev.qwenvl.grounding.Detection.Flag;
import dev.qwenvl.grounding.Shape.Box;
import dev.qwenvl.grounding.Shape.Point;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A corpus of model answers, real-looking and broken, in both formats, read against a 640x480 photo whose frame
 * (llama.cpp's rule, see ImageGeometryTest) is 644x476 with the picture 635 wide from x = 4.
 */
class GroundingParseTest {
    private static final ImageGeometry PHOTO = ImageGeometryTest.reference(640, 480, 14, 8, 4096);

    /** Frame pixels to photo pixels, written out from the geometry's numbers. */
    private static double x(double frameX) {
        return (frameX - 4) * 640 / 635;
    }

    private static double y(double frameY) {
        return frameY * 480 / 476;
    }

    private static List<Detection> parse(String text) {
        return Grounding.parse(text, PHOTO, 0);
    }

    private static void assertBox(Detection d, String label, double x1, double y1, double x2, double y2,
                                  Set<Flag> flags) {
        assertEquals(label, d.label());
        assertEquals(flags, d.flags(), d.toString());
        Box b = (Box) d.shape();
        assertEquals(x1, b.x1(), 1e-9, d.toString());
        assertEquals(y1, b.y1(), 1e-9, d.toString());
        assertEquals(x2, b.x2(), 1e-9, d.toString());
        assertEquals(y2, b.y2(), 1e-9, d.toString());
    }

    @Test
    void theFrameIsTheOneLlamaCppUsesForThisPhoto() {
        assertEquals(new ImageGeometry(640, 480, 644, 476, 4, 0, 635, 476, 23, 17), PHOTO);
    }

    @Test
    void fencedListAsQwen25VlWritesIt() {
        List<Detection> found = parse("""
                ```json
                [
                	{"bbox_2d": [135, 114, 540, 402], "label": "traffic sign"},
                	{"bbox_2d": [20, 300, 200, 470], "label": "car"}
                ]
                ```""");
        assertEquals(2, found.size());
        assertBox(found.get(0), "traffic sign", x(135), y(114), x(540), y(402), Set.of());
        assertBox(found.get(1), "car", x(20), y(300), x(200), y(470), Set.of());
        assertEquals(new Box(135, 114, 540, 402), found.get(0).written());
        assertEquals(0, found.get(0).image());
        assertTrue(found.get(0).isValid());
    }

    @Test
    void bareObjectAmongProseAndSeveralBlocks() {
        List<Detection> found = parse("The sign is here: {\"bbox_2d\": [10, 20, 30, 40], \"label\": \"sign\"}. And"
                + " [1] more:\n```json\n{\"label\": \"car\", \"bbox_2d\": [50, 60, 70, 80]}\n```\nHope that helps!");
        assertEquals(2, found.size());
        assertBox(found.get(0), "sign", x(10), y(20), x(30), y(40), Set.of());
        assertBox(found.get(1), "car", x(50), y(60), x(70), y(80), Set.of());
    }

    @Test
    void toleratesTrailingAndMissingCommasUnquotedKeysAndWrappers() {
        List<Detection> found = parse("[{\"bbox_2d\": [11, 12, 13, 14,], \"label\": \"a\",}, {bbox_2d: [21 22 23 24]"
                + " label: \"b\"}, {\"objects\": [{\"bbox_2d\": [31, 32, 33, 34], \"label\": \"c\"}]},]");
        assertEquals(List.of("a", "b", "c"), found.stream().map(Detection::label).toList());
        assertBox(found.get(1), "b", x(21), y(22), x(23), y(24), Set.of());
        assertTrue(found.stream().allMatch(Detection::isValid));
    }

    @Test
    void aTruncatedLastItemIsReportedAndTheRestKept() {
        List<Detection> cutInCoordinates = parse("[{\"bbox_2d\": [1, 2, 3, 4], \"label\": \"a\"}, {\"bbox_2d\": [5, 6, 7");
        assertEquals(2, cutInCoordinates.size());
        assertBox(cutInCoordinates.get(0), "a", x(4), y(2), x(4), y(4), Set.of(Flag.CLAMPED)); // x 1..3 is padding
        assertEquals(Set.of(Flag.INVALID, Flag.TRUNCATED), cutInCoordinates.get(1).flags());
        assertTrue(cutInCoordinates.get(1).problem().contains("cut off after 3 of 4"),
                cutInCoordinates.get(1).problem());

        List<Detection> cutInLabel = parse("```json\n[{\"bbox_2d\": [100, 200, 300, 400], \"label\": \"ca");
        assertEquals(1, cutInLabel.size());
        assertBox(cutInLabel.get(0), "ca", x(100), y(200), x(300), y(400), Set.of(Flag.TRUNCATED));
    }

    @Test
    void pointsAreMappedLikeCorners() {
        List<Detection> found = parse("[{\"point_2d\": [322, 238], \"label\": \"centre\"}]");
        assertEquals(1, found.size());
        Point p = (Point) found.get(0).shape();
        assertEquals(x(322), p.x(), 1e-9);
        assertEquals(y(238), p.y(), 1e-9);
        assertEquals(new Point(322, 238), found.get(0).written());
    }

    @Test
    void nonNumbersAreInvalidNotGuessed() {
        String[] broken = {"[\"10\", 20, 30, 40]", "[NaN, 1, 2, 3]", "[Infinity, 1, 2, 3]", "[-Infinity, 1, 2, 3]",
            "[1e999, 1, 2, 3]", "[1, 2, 3]", "[1, 2, 3, 4, 5]", "[null, 1, 2, 3]", "[[1, 2, 3, 4]]", "\"1,2,3,4\"",
            "[1.5.5, 1, 2, 3]", "[0x10, 1, 2, 3]", "[true, 1, 2, 3]", "[{}, 1, 2, 3]"};
        for (String coordinates : broken) {
            List<Detection> found = parse("{\"bbox_2d\": " + coordinates + ", \"label\": \"x\"}");
            assertEquals(1, found.size(), coordinates);
            Detection d = found.get(0);
            assertEquals(Set.of(Flag.INVALID), d.flags(), coordinates);
            assertEquals("x", d.label());
            assertTrue(d.shape() == null && d.written() == null && d.problem().startsWith("bbox_2d "),
                    coordinates + ": " + d);
        }
    }

    @Test
    void invertedBoxesAreFlaggedAndKeptAsWritten() {
        Detection d = parse("{\"bbox_2d\": [300, 200, 100, 50], \"label\": \"upside down\"}").get(0);
        assertBox(d, "upside down", x(300), y(200), x(100), y(50), Set.of(Flag.INVERTED));
    }

    @Test
    void coordinatesOutsideThePictureAreClampedAndFlagged() {
        assertBox(parse("{\"bbox_2d\": [-20, -5, 700, 500]}").get(0), "", 0, 0, 640, 480, Set.of(Flag.CLAMPED));
        assertBox(parse("{\"bbox_2d\": [2, 10, 641, 20]}").get(0), "", 0, y(10), 640, y(20), Set.of(Flag.CLAMPED));
        assertBox(parse("{\"bbox_2d\": [1e300, 0, 1e308, 1]}").get(0), "", 640, 0, 640, y(1), Set.of(Flag.CLAMPED));
        assertBox(parse("{\"bbox_2d\": [4, 0, 639, 476]}").get(0), "", 0, 0, 640, 480, Set.of());
    }

    @Test
    void qwen2VlBoxTokensOnTheThousandGrid() {
        List<Detection> found = parse("<|object_ref_start|>the car<|object_ref_end|><|box_start|>(100,200),(500,800)"
                + "<|box_end|><|box_start|>( 600 , 100 ),( 900 , 300 )<|box_end|> and"
                + " <|object_ref_start|>a sign<|object_ref_end|><|box_start|>(0,0),(1000,1000)<|box_end|>");
        assertEquals(3, found.size());
        assertBox(found.get(0), "the car", x(100 * 644 / 1000.0), y(200 * 476 / 1000.0), x(500 * 644 / 1000.0),
                y(800 * 476 / 1000.0), Set.of());
        assertBox(found.get(1), "the car", x(600 * 644 / 1000.0), y(100 * 476 / 1000.0), x(900 * 644 / 1000.0),
                y(300 * 476 / 1000.0), Set.of());
        assertBox(found.get(2), "a sign", 0, 0, 640, 480, Set.of(Flag.CLAMPED)); // the grid spans the padding too
        assertEquals(new Box(100, 200, 500, 800), found.get(0).written());
    }

    @Test
    void brokenBoxTokensAreReported() {
        List<Detection> found = parse("<|object_ref_start|>x<|object_ref_end|><|box_start|>(abc,1),(2,3)<|box_end|>"
                + "<|box_start|>(1,2)<|box_end|><|box_start|>(NaN,1),(2,3)<|box_end|><|box_start|>(900,1),(100,3)"
                + "<|box_end|><|box_start|>(10,20),(3");
        assertEquals(5, found.size());
        for (int i = 0; i < 3; i++) {
            assertEquals(Set.of(Flag.INVALID), found.get(i).flags(), found.get(i).toString());
        }
        assertEquals(Set.of(Flag.INVERTED), found.get(3).flags());
        assertEquals(Set.of(Flag.INVALID, Flag.TRUNCATED), found.get(4).flags());
        assertTrue(found.get(4).problem().contains("(10,20),(3"), found.get(4).problem());
    }

    @Test
    void textWithoutCoordinatesHasNoDetections() {
        for (String text : List.of("", "I see a red car.", "[1, 2]", "{\"label\": \"car\"}", "```json\n```",
                "{", "[", "}{][", "<|box_end|>", "<|object_ref_start|>car<|object_ref_end|>")) {
            assertEquals(List.of(), parse(text), text);
        }
    }

    @Test
    @Timeout(value = 10, unit = TimeUnit.MINUTES) // a hang guard for a quadratic regression, not a speed check
    void hostileAnswersStayLinear() {
        StringBuilder many = new StringBuilder("[");
        for (int i = 0; i < 20_000; i++) {
            many.append("{\"bbox_2d\": [").append(i % 600).append(", 10, 620, 400], \"label\": \"item ").append(i)
                    .append("\"},");
        }
        List<Detection> manyFound = parse(many.toString());
        assertEquals(20_000, manyFound.size());
        assertTrue(manyFound.stream().allMatch(Detection::isValid));

        Detection huge = parse("{\"bbox_2d\": [" + "9".repeat(2_000_000) + ", 1, 2, 3]}").get(0);
        assertEquals(Set.of(Flag.INVALID), huge.flags());
        assertTrue(huge.problem().length() < 200, "the problem quotes an excerpt, not the number");

        String deep = "[".repeat(1_000_000) + "{\"bbox_2d\": [1, 2, 3, 4]}" + "]".repeat(1_000_000);
        assertEquals(List.of(), parse(deep), "nesting beyond the depth limit is skipped");
        assertEquals(List.of(), parse("[".repeat(1_000_000)));
        assertEquals(List.of(), parse("{".repeat(1_000_000)));
        assertEquals(List.of(), parse("{\"label\": \"" + "a".repeat(2_000_000)));
        List<Detection> shallowAfterDeep = parse("[".repeat(100) + "]".repeat(100)
                + "{\"bbox_2d\": [10, 20, 30, 40]}");
        assertEquals(1, shallowAfterDeep.size());

        String box = "<|box_start|>(1,2),(3,4)<|box_end|>";
        assertEquals(20_000, parse(box.repeat(20_000)).size());
        Detection spaced = parse("<|box_start|>(1,2)" + " ".repeat(2_000_000) + "x<|box_end|>").get(0);
        assertEquals(Set.of(Flag.INVALID), spaced.flags());
        assertTrue(spaced.problem().length() < 200);
        assertEquals(1, parse("<|".repeat(1_000_000) + box).size());
        assertEquals(Set.of(Flag.INVALID), parse("<|box_start|>(" + "1".repeat(2_000_000) + ",2),(3,4)<|box_end|>")
                .get(0).flags());
    }
}
