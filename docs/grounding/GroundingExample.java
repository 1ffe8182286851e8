import dev.qwenvl.Image;
import dev.qwenvl.ImageGeometry;
import dev.qwenvl.ModelOptions;
import dev.qwenvl.VisionLanguageModel;
import dev.qwenvl.grounding.Detection;
import dev.qwenvl.grounding.Grounding;

import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.Polygon;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * Makes the README's grounding example: a synthetic street scene, the frame the model's libmtmd makes of it, and the
 * boxes a perfect Qwen2.5-VL answer would give for that frame, drawn back onto the scene. Random-weight test models
 * write no coordinates, so the answer is written here from where the scene's objects really are.
 *
 * <pre>{@code java --enable-native-access=ALL-UNNAMED -cp cli/target/qwenvl.jar docs/grounding/GroundingExample.java \
 *      TEXT.gguf MMPROJ.gguf docs/grounding}</pre>
 */
public class GroundingExample {
    /** Where the scene's objects are, in scene pixels: x1, y1, x2, y2. */
    private static final int[] SIGN = {50, 60, 130, 140};
    private static final int[] CAR = {230, 160, 420, 284};
    private static final int[] WHEEL = {270, 262};

    public static void main(String[] args) throws Exception {
        Path out = Path.of(args[2]);
        BufferedImage scene = scene();
        Grounding.writePng(scene, out.resolve("scene.png"));
        ModelOptions options = Grounding.modelOptions(ModelOptions.defaults().withWarmup(false));
        try (VisionLanguageModel model = VisionLanguageModel.load(Path.of(args[0]), Path.of(args[1]), options)) {
            Image image = Image.of(scene);
            ImageGeometry g = model.imageGeometry(image);
            System.out.println(g);
            ImageGeometry.Mapped wheel = g.originalToFrame(WHEEL[0], WHEEL[1]);
            String answer = "```json\n[\n  " + box(g, SIGN, "traffic sign") + ",\n  " + box(g, CAR, "car")
                    + ",\n  {\"point_2d\": [" + Math.round(wheel.x()) + ", " + Math.round(wheel.y())
                    + "], \"label\": \"front wheel\"}\n]\n```";
            System.out.println(answer);
            List<Detection> found = Grounding.parse(answer, g, 0);
            found.forEach(System.out::println);
            Grounding.writePng(Grounding.draw(image, found), out.resolve("scene-boxes.png"));
        }
    }

    /** The box as Qwen2.5-VL writes it: whole pixels of the frame. */
    private static String box(ImageGeometry g, int[] b, String label) {
        ImageGeometry.Mapped a = g.originalToFrame(b[0], b[1]);
        ImageGeometry.Mapped z = g.originalToFrame(b[2], b[3]);
        return String.format(Locale.ROOT, "{\"bbox_2d\": [%d, %d, %d, %d], \"label\": \"%s\"}", Math.round(a.x()),
                Math.round(a.y()), Math.round(z.x()), Math.round(z.y()), label);
    }

    private static BufferedImage scene() {
        BufferedImage img = new BufferedImage(480, 320, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setColor(new Color(0x9CC9E8));
        g.fillRect(0, 0, 480, 200);
        g.setColor(new Color(0x5A5A5A));
        g.fillRect(0, 200, 480, 120);
        g.setColor(Color.WHITE);
        for (int x = 10; x < 480; x += 60) {
            g.fillRect(x, 300, 30, 5);
        }
        g.setColor(new Color(0x6E6E6E));
        g.fillRect(86, 140, 8, 150); // the sign's post
        Polygon octagon = new Polygon();
        for (int k = 0; k < 8; k++) {
            double a = Math.PI / 8 + k * Math.PI / 4;
            octagon.addPoint((int) Math.round(90 + 40 * Math.cos(a) / Math.cos(Math.PI / 8)),
                    (int) Math.round(100 + 40 * Math.sin(a) / Math.cos(Math.PI / 8)));
        }
        g.setClip(SIGN[0], SIGN[1], SIGN[2] - SIGN[0], SIGN[3] - SIGN[1]);
        g.setColor(new Color(0xC8102E));
        g.fillPolygon(octagon);
        g.setClip(null);
        g.setColor(new Color(0x1F4E9C));
        g.fillRoundRect(230, 200, 190, 62, 18, 18);
        g.fillRoundRect(270, 160, 110, 50, 24, 24);
        g.setColor(new Color(0xBFE3F5));
        g.fillRect(282, 170, 40, 30);
        g.fillRect(330, 170, 40, 30);
        g.setColor(Color.BLACK);
        g.fillOval(248, 240, 44, 44);
        g.fillOval(358, 240, 44, 44);
        g.dispose();
        return img;
    }
}
