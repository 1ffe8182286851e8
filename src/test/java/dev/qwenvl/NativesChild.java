package dev.qwenvl;

import dev.qwenvl.testing.ModelPair;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.List;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A fresh JVM that loads the natives from one directory, asks the tiny pair one greedy question about an image, and
 * says what it ran on: the answer, the CPU variant modules mapped into it, and {@link Backends#summary()}.
 */
final class NativesChild {
    static final String PROMPT = "Describe the image.";
    static final int TOKENS = 24;
    private static final String ANSWER = "answer-utf8-hex: ";
    private static final String MAPPED = "mapped cpu variant: ";
    private static final String BACKEND = "backend: ";

    /** What the child printed; {@code output} is all of it, stderr included, for messages and log-line checks. */
    record Result(String answer, List<String> mappedVariants, String backend, String output) {
    }

    private NativesChild() {
    }

    /** args: text, mmproj, image. */
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
        System.out.println(BACKEND + Backends.current().summary());
        // /proc/self/maps names every file mapped: which CPU variant ggml really dlopened and kept
        TreeSet<String> variants = new TreeSet<>();
        for (String line : Files.readAllLines(Path.of("/proc/self/maps"))) {
            if (line.contains("libggml-cpu-")) {
                variants.add(Path.of(line.substring(line.indexOf('/'))).getFileName().toString());
            }
        }
        variants.forEach(v -> System.out.println(MAPPED + v));
    }

    /** Runs the child on the natives in dir; fails the test if it does not finish cleanly within three minutes. */
    static Result run(Path dir, ModelPair pair, Path image) throws IOException, InterruptedException {
        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-Dqwenvl.library.path=" + dir,
                "-cp", System.getProperty("surefire.test.class.path", System.getProperty("java.class.path")),
                NativesChild.class.getName(), pair.text().toString(), pair.mmproj().toString(), image.toString());
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
        assertTrue(done && child.exitValue() == 0, "child JVM on the natives in " + dir + " failed:\n" + out);
        String hex = value(out, ANSWER);
        return new Result(new String(HexFormat.of().parseHex(hex), StandardCharsets.UTF_8),
                out.lines().filter(l -> l.startsWith(MAPPED)).map(l -> l.substring(MAPPED.length())).toList(),
                value(out, BACKEND), out);
    }

    private static String value(String out, String prefix) {
        return out.lines().filter(l -> l.startsWith(prefix)).findFirst()
                .orElseThrow(() -> new AssertionError("no '" + prefix + "' line from the child:\n" + out))
                .substring(prefix.length());
    }
}
