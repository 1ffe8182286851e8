package dev.qwenvl.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.qwenvl.testing.ModelPair;
import dev.qwenvl.testing.Spec;
import dev.qwenvl.testing.TestImages;
import dev.qwenvl.testing.TinyModels;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code --detect}, {@code --boxes} and their {@code --json} on the shaded jar and the tiny random-weight pair: the
 * coordinates it writes are gibberish, but the prompt, the raised token minimum, the PNG and the JSON are real.
 */
class GroundingIT {
    @TempDir
    static Path tmp;
    private static ModelPair pair;
    private static Path png;

    @BeforeAll
    static void fixture() {
        pair = TinyModels.pair(Spec.tiny(Spec.Projector.QWEN25VL));
        png = TestImages.gradient(tmp.resolve("street.png"), 200, 120);
    }

    private static String[] args(String... more) {
        List<String> args = new ArrayList<>(List.of("-m", pair.text().toString(), "--mmproj",
                pair.mmproj().toString(), "-n", "8", "--temp", "0", "-fa", "off", "-t", "2", "--no-jinja"));
        args.addAll(List.of(more));
        return args.toArray(String[]::new);
    }

    @Test
    void detectDrawsOntoTheOriginalAndReportsInJson() throws IOException {
        Path out = tmp.resolve("boxes.png");
        CliProcess.Result r = CliProcess.run(args("--image", png.toString(), "--detect", "traffic sign, car",
                "--boxes", out.toString(), "--json"));
        assertEquals(0, r.exitCode(), r::toString);
        JsonNode json = new ObjectMapper().readTree(r.stdout());
        assertTrue(json.get("detections").isArray(), r::toString);
        JsonNode image = json.get("stats").get("images").get(0);
        assertEquals(List.of(200, 120), ints(image.get("original")));
        List<Integer> tokens = ints(image.get("tokens"));
        assertTrue(tokens.get(0) * tokens.get(1) >= 1024, "--detect raises the image token minimum: " + image);
        assertEquals(tokens.get(0) * tokens.get(1), json.get("stats").get("image_tokens").asInt());
        BufferedImage drawn = ImageIO.read(out.toFile());
        assertEquals(200, drawn.getWidth());
        assertEquals(120, drawn.getHeight());
    }

    @Test
    void boxesWithAPromptKeepTheUsersTokenBoundsAndSummariseOnStderr() throws IOException {
        Path out = tmp.resolve("own-prompt.png");
        CliProcess.Result r = CliProcess.run(args("--image", png.toString(), "-p", "Where is the car? Answer in JSON.",
                "--boxes", out.toString()));
        assertEquals(0, r.exitCode(), r::toString);
        assertTrue(r.stderr().contains("detection") && r.stderr().contains("drawn onto " + out), r::toString);
        assertTrue(Files.size(out) > 0);

        Path json = tmp.resolve("chosen-min.png");
        CliProcess.Result chosen = CliProcess.run(args("--image", png.toString(), "--detect", "car",
                "--image-min-tokens", "16", "--boxes", json.toString(), "--json"));
        assertEquals(0, chosen.exitCode(), chosen::toString);
        List<Integer> tokens = ints(new ObjectMapper().readTree(chosen.stdout()).get("stats").get("images").get(0)
                .get("tokens"));
        assertTrue(tokens.get(0) * tokens.get(1) < 1024, "the user's --image-min-tokens wins: " + tokens);
    }

    @Test
    void misuseIsAUsageError() {
        CliProcess.Result noImage = CliProcess.run(args("-p", "hi", "--boxes", tmp.resolve("x.png").toString()));
        assertEquals(ExitCodes.USAGE, noImage.exitCode(), noImage::toString);
        assertTrue(noImage.stderr().contains("--boxes needs an image"), noImage::toString);
        CliProcess.Result blank = CliProcess.run(args("--image", png.toString(), "--detect", "car, "));
        assertEquals(ExitCodes.USAGE, blank.exitCode(), blank::toString);
        CliProcess.Result both = CliProcess.run(args("--image", png.toString(), "--detect", "car", "-p", "hi"));
        assertEquals(ExitCodes.USAGE, both.exitCode(), both::toString);
        assertFalse(Files.exists(tmp.resolve("x.png")));
    }

    private static List<Integer> ints(JsonNode array) {
        List<Integer> values = new ArrayList<>();
        array.forEach(v -> values.add(v.asInt()));
        return values;
    }
}
