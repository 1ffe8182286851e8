package dev.qwenvl;

import dev.qwenvl.testing.ModelPair;
import dev.qwenvl.testing.ReferenceCli;
import dev.qwenvl.testing.Spec;
import dev.qwenvl.testing.Spec.Projector;
import dev.qwenvl.testing.TestImages;
import dev.qwenvl.testing.TinyModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIf;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The portable natives' baseline x86-64 CPU variant works on its own: a directory holding only libggml-cpu-x64.so
 * (and the non-CPU libraries) loads in a fresh JVM, ggml maps that variant and no other, and the greedy answer on the
 * tiny pair equals llama-mtmd-cli's from the full build (which picks the best variant for this CPU).
 */
@EnabledIf("portableX86Natives")
class BaselineCpuVariantTest {
    private static final String BASELINE = "libggml-cpu-x64.so";
    private static final String PROMPT = "Describe the image.";
    private static final int TOKENS = 24;
    private static final String ANSWER = "answer-utf8-hex: ";
    private static final String MAPPED = "mapped cpu variant: ";

    /** A child JVM's main: args text, mmproj, image; prints the greedy answer and the CPU variants mapped. */
    public static void main(String[] args) throws IOException {
        ModelOptions options = ModelOptions.defaults().withThreads(2)
                .withFlashAttention(ModelOptions.FlashAttention.DISABLED);
        try (VisionLanguageModel model = VisionLanguageModel.load(Path.of(args[0]), Path.of(args[1]), options);
             Conversation chat = model.newConversation()) {
            Generation g = chat.ask(Message.of(PROMPT, Image.read(Path.of(args[2]))),
                    SamplingOptions.greedy().withMaxTokens(TOKENS));
            String text = g.text() + (g.stopReason() == StopReason.END_OF_GENERATION ? "\n" : "");
            System.out.println(ANSWER + HexFormat.of().formatHex(text.getBytes(StandardCharsets.UTF_8)));
        }
        // /proc/self/maps names every file mapped: which CPU variant ggml really dlopened and kept
        TreeSet<String> variants = new TreeSet<>();
        for (String line : Files.readAllLines(Path.of("/proc/self/maps"))) {
            int at = line.indexOf("libggml-cpu-");
            if (at >= 0) {
                variants.add(Path.of(line.substring(line.indexOf('/'))).getFileName().toString());
            }
        }
        variants.forEach(v -> System.out.println(MAPPED + v));
    }

    @Test
    void baselineVariantAloneGivesTheFullBuildsGreedyAnswer(@TempDir Path tmp) throws Exception {
        Path bin = Path.of(System.getProperty(ReferenceCli.BIN_PROPERTY));
        Path stage = Files.createDirectory(tmp.resolve("natives"));
        List<String> kept = new ArrayList<>();
        for (String line : Files.readAllLines(bin.resolve("natives.list"))) {
            String name = line.strip().replaceFirst("^module:", "");
            if (!name.isEmpty() && (!name.startsWith("libggml-cpu-") || name.equals(BASELINE))) {
                Files.copy(bin.resolve(name), stage.resolve(name));
                kept.add(line.strip());
            }
        }
        Files.write(stage.resolve("natives.list"), kept);
        assertTrue(kept.contains("module:" + BASELINE), "the full build ships " + BASELINE + ": " + kept);

        ModelPair pair = TinyModels.pair(Spec.tiny(Projector.QWEN25VL));
        Path png = TestImages.gradient(tmp.resolve("gradient.png"), 640, 480);
        ReferenceCli.Result cli = ReferenceCli.run(pair, png, PROMPT, TOKENS);
        assertEquals(0, cli.exitCode(), cli::stderrTail);

        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-Dqwenvl.library.path=" + stage,
                "-cp", System.getProperty("surefire.test.class.path", System.getProperty("java.class.path")),
                BaselineCpuVariantTest.class.getName(), pair.text().toString(), pair.mmproj().toString(),
                png.toString());
        ProcessBuilder b = new ProcessBuilder(cmd).redirectErrorStream(true);
        b.environment().keySet().removeIf(k -> k.startsWith("GGML_") || k.equals("QWENVL_LIBRARY_PATH"));
        Process child = b.start();
        child.getOutputStream().close();
        String out;
        try (var in = child.getInputStream()) {
            out = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        boolean done = child.waitFor(180, TimeUnit.SECONDS);
        if (!done) {
            child.destroyForcibly();
        }
        assertTrue(done && child.exitValue() == 0, "child JVM on the baseline variant failed:\n" + out);

        List<String> mapped = out.lines().filter(l -> l.startsWith(MAPPED)).map(l -> l.substring(MAPPED.length()))
                .toList();
        assertEquals(List.of(BASELINE), mapped, "ggml must have loaded the baseline variant and nothing else");
        String answerHex = out.lines().filter(l -> l.startsWith(ANSWER)).findFirst()
                .orElseThrow(() -> new AssertionError("no answer line from the child:\n" + out))
                .substring(ANSWER.length());
        String ours = new String(HexFormat.of().parseHex(answerHex), StandardCharsets.UTF_8);
        assertEquals(new String(cli.response(), StandardCharsets.UTF_8), ours,
                "greedy answer on " + BASELINE + " alone differs from llama-mtmd-cli's on the full build");
    }

    static boolean portableX86Natives() throws IOException {
        Path list = Path.of(System.getProperty(ReferenceCli.BIN_PROPERTY, ""), "natives.list");
        return System.getProperty("os.name").startsWith("Linux") && Files.isRegularFile(list)
                && Files.readAllLines(list).contains("module:" + BASELINE);
    }
}
