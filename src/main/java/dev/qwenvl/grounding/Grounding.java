package dev.qwenvl.grounding;

import dev.qwenvl.Generation;
import dev.qwenvl.Image;
import dev.qwenvl.ImageGeometry;
import dev.qwenvl.ModelOptions;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;

import javax.imageio.ImageIO;

/**
 * Grounding with Qwen-VL: ask where things are, turn the answer into {@link Detection}s in the original image's
 * pixels, and draw them.
 *
 * <pre>{@code
 * try (VisionLanguageModel model = VisionLanguageModel.load(text, mmproj, Grounding.modelOptions(ModelOptions.defaults()));
 *      Conversation chat = model.newConversation()) {
 *     Image photo = Image.read(Path.of("street.jpg"));
 *     Generation answer = chat.ask(Message.of(Grounding.prompt(List.of("traffic sign", "car")), photo),
 *                                  SamplingOptions.greedy());
 *     List<Detection> found = Grounding.parse(answer);
 *     Grounding.writePng(Grounding.draw(photo, found), Path.of("boxes.png"));
 * }
 * }</pre>
 *
 * <p>Two answer formats are read. Qwen2.5-VL writes JSON, {@code {"bbox_2d": [x1, y1, x2, y2], "label": "car"}} or
 * {@code "point_2d": [x, y]}, one object or a list, fenced or bare, with prose around it, in pixels of the frame
 * libmtmd fed the vision encoder ({@link ImageGeometry}). Qwen2-VL writes
 * {@code <|object_ref_start|>car<|object_ref_end|><|box_start|>(x1,y1),(x2,y2)<|box_end|>} on a 0..1000 grid over
 * that frame. Parsing tolerates what models really emit (trailing or missing commas, unquoted keys, an answer cut off
 * in its last item) and reports what would mislead rather than fixing it (see {@link Detection.Flag}). It makes one
 * pass over the text, so its time and memory are linear in the answer's length.
 */
public final class Grounding {
    /**
     * Image tokens grounding needs at least: llama.cpp warns that Qwen-VL models "require at minimum 1024 image tokens
     * to function correctly on grounding tasks" (its default minimum is 8, which leaves small images a few tokens).
     */
    public static final int MIN_IMAGE_TOKENS = 1024;
    private static final Set<String> JSON_KEYS = Set.of("bbox_2d", "point_2d");

    private Grounding() {
    }

    /**
     * Qwen2.5-VL's detection prompt, as in Qwen's cookbook, for the things to find: {@code Locate every instance that
     * belongs to the following categories: 'traffic sign, car'. Report bbox coordinates in JSON format.}
     *
     * @throws IllegalArgumentException if {@code things} is empty or holds a blank entry
     */
    public static String prompt(List<String> things) {
        Objects.requireNonNull(things, "things");
        if (things.isEmpty() || things.stream().anyMatch(t -> t == null || t.isBlank())) {
            throw new IllegalArgumentException("name at least one thing to locate, none of them blank: " + things);
        }
        return "Locate every instance that belongs to the following categories: '"
                + String.join(", ", things.stream().map(String::strip).toList())
                + "'. Report bbox coordinates in JSON format.";
    }

    /**
     * {@code options} with at least {@link #MIN_IMAGE_TOKENS} image tokens, unless a minimum was chosen already
     * ({@code imageMinTokens() > 0}); a maximum below it is kept and caps the minimum.
     */
    public static ModelOptions modelOptions(ModelOptions options) {
        if (options.imageMinTokens() > 0) {
            return options;
        }
        int max = options.imageMaxTokens();
        return options.withImageTokens(max > 0 ? Math.min(MIN_IMAGE_TOKENS, max) : MIN_IMAGE_TOKENS, max);
    }

    /**
     * The detections in an answer about one image.
     *
     * @throws IllegalArgumentException if the question held no image (a follow-up about an image of an earlier turn:
     *                                  use {@link #parse(String, ImageGeometry, int)} with that image's geometry) or
     *                                  several (say which with {@link #parse(Generation, int)})
     */
    public static List<Detection> parse(Generation answer) {
        int images = answer.stats().images().size();
        if (images != 1) {
            throw new IllegalArgumentException(images == 0
                    ? "the question held no image; parse the text with the geometry of the image it is about:"
                    + " Grounding.parse(text, model.imageGeometry(image), 0)"
                    : "the question held " + images + " images; say which the coordinates refer to with"
                    + " Grounding.parse(answer, index)");
        }
        return parse(answer, 0);
    }

    /**
     * The detections in an answer, read as coordinates on image {@code image} (0 for the first) of the question.
     *
     * @throws IllegalArgumentException if the question had no such image
     */
    public static List<Detection> parse(Generation answer, int image) {
        List<ImageGeometry> images = answer.stats().images();
        if (image < 0 || image >= images.size()) {
            throw new IllegalArgumentException("image " + image + " does not exist: the question held "
                    + images.size() + " image" + (images.size() == 1 ? "" : "s"));
        }
        return parse(answer.text(), images.get(image), image);
    }

    /**
     * The detections in a model's text, read as coordinates on the image preprocessed as {@code geometry}.
     *
     * @param image the index recorded in each detection, 0 or more
     */
    public static List<Detection> parse(String text, ImageGeometry geometry, int image) {
        Objects.requireNonNull(text, "text");
        Objects.requireNonNull(geometry, "geometry");
        if (image < 0) {
            throw new IllegalArgumentException("the image index must be 0 or more, got " + image);
        }
        List<Detection> found = new ArrayList<>();
        if (BoxTokens.appearsIn(text)) {
            for (BoxTokens.Written b : BoxTokens.parse(text)) {
                found.add(b.corners() == null ? invalid(image, b.label(), b.problem(), b.truncated())
                        : box(image, b.label(), b.corners(), b.truncated(), geometry, true));
            }
            return found;
        }
        for (LenientJson.JsonObject o : LenientJson.objectsWithAnyKey(text, JSON_KEYS)) {
            String label = o.members().get("label") instanceof String s ? s : "";
            boolean isBox = o.members().containsKey("bbox_2d");
            String key = isBox ? "bbox_2d" : "point_2d";
            Object coordinates = o.members().get(key);
            String problem = coordinateProblem(key, coordinates, isBox ? 4 : 2);
            if (problem != null) {
                found.add(invalid(image, label, problem, o.truncated()));
                continue;
            }
            double[] c = ((LenientJson.JsonArray) coordinates).items().stream().mapToDouble(v -> (Double) v).toArray();
            found.add(isBox ? box(image, label, c, o.truncated(), geometry, false)
                    : point(image, label, c, o.truncated(), geometry));
        }
        return found;
    }

    /**
     * A copy of {@code original} with the valid detections drawn on it: boxes, points, and their labels, one distinct
     * colour per label; line width and type size scale with the image.
     */
    public static BufferedImage draw(BufferedImage original, List<Detection> detections) {
        return DetectionPainter.draw(Objects.requireNonNull(original, "original"),
                Objects.requireNonNull(detections, "detections"));
    }

    /**
     * {@link #draw(BufferedImage, List)} on a decoded image's pixels.
     *
     * @throws IllegalStateException if {@code original} is {@linkplain Image#isEncoded() encoded}: decode it in Java
     */
    public static BufferedImage draw(Image original, List<Detection> detections) {
        byte[] rgb = original.rgb();
        int w = original.width();
        BufferedImage image = new BufferedImage(w, original.height(), BufferedImage.TYPE_INT_RGB);
        for (int i = 0, p = 0; i < rgb.length; i += 3, p++) {
            image.setRGB(p % w, p / w, (rgb[i] & 0xFF) << 16 | (rgb[i + 1] & 0xFF) << 8 | (rgb[i + 2] & 0xFF));
        }
        return draw(image, detections);
    }

    /** Writes {@code image} to {@code file} as PNG. */
    public static void writePng(BufferedImage image, Path file) throws IOException {
        if (!ImageIO.write(image, "png", file.toFile())) {
            throw new IOException("this JDK has no PNG writer");
        }
    }

    private static String coordinateProblem(String key, Object value, int count) {
        if (!(value instanceof LenientJson.JsonArray a)) {
            return key + " is not a list of numbers: " + describe(value);
        }
        if (a.truncated()) {
            return key + " is cut off after " + a.items().size() + " of " + count + " values";
        }
        if (a.items().size() != count) {
            return key + " has " + a.items().size() + " values, not " + count;
        }
        for (Object v : a.items()) {
            if (!(v instanceof Double)) {
                return key + " holds " + describe(v) + ", not a finite number";
            }
        }
        return null;
    }

    private static String describe(Object v) {
        return switch (v) {
            case null -> "nothing";
            case String s -> "the string \"" + LenientJson.excerpt(s) + "\"";
            case LenientJson.Unusable u -> "'" + u.excerpt() + "'";
            case LenientJson.JsonArray a -> "a list of " + a.items().size();
            case LenientJson.JsonObject _ -> "an object";
            default -> v == LenientJson.NULL ? "null" : String.valueOf(v);
        };
    }

    private static Detection invalid(int image, String label, String problem, boolean truncated) {
        Set<Detection.Flag> flags = EnumSet.of(Detection.Flag.INVALID);
        if (truncated) {
            flags.add(Detection.Flag.TRUNCATED);
        }
        return new Detection(image, label, null, null, flags, problem);
    }

    private static Detection box(int image, String label, double[] c, boolean truncated, ImageGeometry g,
                                 boolean grid) {
        ImageGeometry.Mapped a = grid ? g.gridToOriginal(c[0], c[1]) : g.frameToOriginal(c[0], c[1]);
        ImageGeometry.Mapped b = grid ? g.gridToOriginal(c[2], c[3]) : g.frameToOriginal(c[2], c[3]);
        Set<Detection.Flag> flags = flags(a.clamped() || b.clamped(), truncated);
        if (c[2] < c[0] || c[3] < c[1]) {
            flags.add(Detection.Flag.INVERTED);
        }
        return new Detection(image, label, new Shape.Box(a.x(), a.y(), b.x(), b.y()),
                new Shape.Box(c[0], c[1], c[2], c[3]), flags, null);
    }

    private static Detection point(int image, String label, double[] c, boolean truncated, ImageGeometry g) {
        ImageGeometry.Mapped p = g.frameToOriginal(c[0], c[1]);
        return new Detection(image, label, new Shape.Point(p.x(), p.y()), new Shape.Point(c[0], c[1]),
                flags(p.clamped(), truncated), null);
    }

    private static Set<Detection.Flag> flags(boolean clamped, boolean truncated) {
        Set<Detection.Flag> flags = EnumSet.noneOf(Detection.Flag.class);
        if (clamped) {
            flags.add(Detection.Flag.CLAMPED);
        }
        if (truncated) {
            flags.add(Detection.Flag.TRUNCATED);
        }
        return flags;
    }
}
