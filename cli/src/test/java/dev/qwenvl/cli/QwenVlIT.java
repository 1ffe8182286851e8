package dev.qwenvl.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.qwenvl.Conversation;
import dev.qwenvl.ConversationOptions;
import dev.qwenvl.Image;
import dev.qwenvl.Message;
import dev.qwenvl.ModelOptions;
import dev.qwenvl.SamplingOptions;
import dev.qwenvl.VisionLanguageModel;
import dev.qwenvl.testing.ModelPair;
import dev.qwenvl.testing.Spec;
import dev.qwenvl.testing.TestImages;
import dev.qwenvl.testing.TinyModels;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The shaded {@code qwenvl.jar} run as a user runs it, on a tiny random-weight Qwen2.5-VL pair: its answers must be
 * the facade's, byte for byte, under reproducible settings (greedy, flash attention off, 2 threads, no Jinja).
 */
class QwenVlIT {
    private static final String QUESTION = "Describe the image.";
    private static final String FOLLOW_UP = "What colour is it?";
    private static final int TOKENS = 24;

    @TempDir
    static Path tmp;
    private static ModelPair pair;
    private static Path png;
    /** The facade's answers: QUESTION with the image, then FOLLOW_UP in the same conversation. */
    private static String answer;
    private static String followUp;

    @BeforeAll
    static void facadeAnswers() {
        pair = TinyModels.pair(Spec.tiny(Spec.Projector.QWEN25VL));
        png = TestImages.gradient(tmp.resolve("gradient.png"), 64, 64);
        ModelOptions options = ModelOptions.defaults().withThreads(2)
                .withFlashAttention(ModelOptions.FlashAttention.DISABLED);
        SamplingOptions greedy = SamplingOptions.greedy().withMaxTokens(TOKENS);
        try (VisionLanguageModel model = VisionLanguageModel.load(pair.text(), pair.mmproj(), options);
             Conversation chat = model.newConversation(ConversationOptions.defaults().withJinja(false))) {
            answer = chat.ask(Message.of(QUESTION, Image.read(png)), greedy).text();
            followUp = chat.ask(Message.of(FOLLOW_UP), greedy).text();
        }
        assertTrue(!answer.isEmpty() && !followUp.isEmpty(), "the tiny model answers something");
    }

    /** -m/--mmproj and the reproducible settings, then {@code more}. */
    private static String[] args(String... more) {
        List<String> args = new ArrayList<>(List.of("-m", pair.text().toString(), "--mmproj",
                pair.mmproj().toString(), "-n", Integer.toString(TOKENS), "--temp", "0", "-fa", "off", "-t", "2",
                "--no-jinja"));
        args.addAll(List.of(more));
        return args.toArray(String[]::new);
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void answerIsTheFacadesByteForByte() {
        CliProcess.Result r = CliProcess.run(args("--image", png.toString(), "-p", QUESTION));
        assertEquals(0, r.exitCode(), r::toString);
        assertArrayEquals(utf8(answer + "\n"), r.stdout(), r::toString);
        assertEquals("", r.stderr(), "nothing on stderr without --verbose");
    }

    @Test
    void promptFromStdinWhenNoPromptIsGiven() {
        CliProcess.Result r = CliProcess.run(utf8(QUESTION + "\n"), args("--image", png.toString()));
        assertEquals(0, r.exitCode(), r::toString);
        assertArrayEquals(utf8(answer + "\n"), r.stdout(), r::toString);
    }

    @Test
    void imageFromStdinAndFromDataUriGiveTheSameAnswer() throws IOException {
        byte[] bytes = Files.readAllBytes(png);
        CliProcess.Result stdin = CliProcess.run(bytes, args("--image", "-", "-p", QUESTION));
        assertEquals(0, stdin.exitCode(), stdin::toString);
        assertArrayEquals(utf8(answer + "\n"), stdin.stdout(), stdin::toString);

        String uri = "data:image/png;base64," + Base64.getEncoder().encodeToString(bytes);
        CliProcess.Result data = CliProcess.run(args("--image", uri, "-p", QUESTION));
        assertEquals(0, data.exitCode(), data::toString);
        assertArrayEquals(utf8(answer + "\n"), data.stdout(), data::toString);
    }

    @Test
    void jsonHoldsTheAnswerAndItsStatistics() throws IOException {
        CliProcess.Result r = CliProcess.run(args("--image", png.toString(), "-p", QUESTION, "--json"));
        assertEquals(0, r.exitCode(), r::toString);
        JsonNode json = new ObjectMapper().readTree(r.stdout());
        assertEquals(answer, json.get("answer").asText());
        assertEquals("max_tokens", json.get("stop_reason").asText());
        assertEquals(pair.text().toAbsolutePath().toString(), json.get("model").asText());
        JsonNode stats = json.get("stats");
        assertEquals(TOKENS, stats.get("generated_tokens").asInt());
        assertTrue(stats.get("image_tokens").asInt() > 0, r::toString);
        assertTrue(stats.get("prompt_tokens").asInt() > 0, r::toString);
        assertTrue(stats.get("generation_ms").asDouble() > 0, r::toString);
    }

    @Test
    void interactiveChatKeepsHistoryAndClearForgetsIt() throws IOException {
        Path saved = tmp.resolve("history.json");
        String script = QUESTION + "\n" + FOLLOW_UP + "\n/save " + saved + "\n/clear\n/image " + png + "\n" + QUESTION
                + "\n/exit\nnot read\n";
        CliProcess.Result r = CliProcess.run(utf8(script), args("--image", png.toString(), "-i"));
        assertEquals(0, r.exitCode(), r::toString);
        // after /clear the same image and question start afresh, so they get the first answer again
        assertArrayEquals(utf8(answer + "\n" + followUp + "\n" + answer + "\n"), r.stdout(), r::toString);
        assertTrue(r.stderr().contains(ChatLoop.PROMPT), r::toString);

        JsonNode messages = new ObjectMapper().readTree(saved.toFile()).get("messages");
        assertEquals(4, messages.size(), messages::toString);
        assertEquals("user", messages.get(0).get("role").asText());
        assertEquals("<__media__>" + QUESTION, messages.get(0).get("content").asText());
        assertEquals(FOLLOW_UP, messages.get(2).get("content").asText());
        assertEquals("assistant", messages.get(3).get("role").asText());
    }

    @Test
    void missingModelFileIsAModelError() {
        Path missing = tmp.resolve("missing.gguf");
        CliProcess.Result r = CliProcess.run("-m", missing.toString(), "--mmproj", pair.mmproj().toString(),
                "--image", png.toString(), "-p", QUESTION);
        assertEquals(ExitCodes.MODEL, r.exitCode(), r::toString);
        assertOneLineError(r, missing + ": no such file");
    }

    @Test
    void nonGgufModelIsAModelError() {
        CliProcess.Result r = CliProcess.run("-m", png.toString(), "--mmproj", pair.mmproj().toString(),
                "--image", png.toString(), "-p", QUESTION);
        assertEquals(ExitCodes.MODEL, r.exitCode(), r::toString);
        assertOneLineError(r, "not a GGUF file");
    }

    @Test
    void missingImageIsAnInputErrorWithAStackTraceOnlyWhenVerbose() {
        Path missing = tmp.resolve("missing.png");
        CliProcess.Result r = CliProcess.run(args("--image", missing.toString(), "-p", QUESTION));
        assertEquals(ExitCodes.INPUT, r.exitCode(), r::toString);
        assertOneLineError(r, missing.toString());

        CliProcess.Result verbose = CliProcess.run(args("--image", missing.toString(), "-p", QUESTION, "--verbose"));
        assertEquals(ExitCodes.INPUT, verbose.exitCode(), verbose::toString);
        assertTrue(verbose.stderr().contains("\tat dev.qwenvl."), verbose::toString);
    }

    @Test
    void badOptionsAreUsageErrors() {
        CliProcess.Result unknown = CliProcess.run(args("--no-such-option"));
        assertEquals(ExitCodes.USAGE, unknown.exitCode(), unknown::toString);
        assertTrue(unknown.stderr().strip().lines().count() == 1
                && unknown.stderr().contains("Unknown option: '--no-such-option'"), unknown::toString);

        CliProcess.Result noMmproj = CliProcess.run("-m", pair.text().toString(), "-p", QUESTION);
        assertEquals(ExitCodes.USAGE, noMmproj.exitCode(), noMmproj::toString);
        assertTrue(noMmproj.stderr().contains("--mmproj FILE is required"), noMmproj::toString);

        CliProcess.Result range = CliProcess.run(args("--top-p", "2", "-p", QUESTION));
        assertEquals(ExitCodes.USAGE, range.exitCode(), range::toString);
        assertTrue(range.stderr().contains("between 0 and 1"), range::toString);

        CliProcess.Result timeout = CliProcess.run(args("--rpc-timeout", "-1", "-p", QUESTION));
        assertEquals(ExitCodes.USAGE, timeout.exitCode(), timeout::toString);
        assertTrue(timeout.stderr().contains("rpcReplyTimeout must be between 0 (wait forever)"), timeout::toString);
    }

    @Test
    void versionNamesTheProjectLlamaCppTreeAndBackends() throws IOException {
        CliProcess.Result r = CliProcess.run("--version");
        assertEquals(0, r.exitCode(), r::toString);
        Properties lock = new Properties();
        try (InputStream in = Files.newInputStream(Path.of(System.getProperty("qwenvl.repo"), "native",
                "llama-cpp.lock"))) {
            lock.load(in);
        }
        String out = r.out();
        assertTrue(out.matches("(?s)qwenvl \\d+\\.\\d+\\.\\d+(-SNAPSHOT)?\n.*"), out);
        assertTrue(out.contains("llama.cpp " + lock.getProperty("version") + " "), out);
        assertTrue(out.contains("tree " + lock.getProperty("tree")), out);
        // the CPU natives put everything on the CPU, which ggml names as the kernel does (/proc/cpuinfo's model name)
        String cpu = Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("model name"))
                .findFirst().map(l -> l.substring(l.indexOf(':') + 1).strip()).orElseThrow();
        assertTrue(out.lines().anyMatch(l -> l.startsWith("backend: CPU: CPU (" + cpu + ", ")), out);
        assertTrue(out.lines().anyMatch(l -> l.startsWith("devices: ") && l.contains("CPU [CPU, cpu]")), out);
    }

    @Test
    void terminationCancelsTheGenerationAndPrintsItsStatistics() throws Exception {
        List<String> command = new ArrayList<>(List.of(args("--image", png.toString(), "-p", QUESTION)));
        command.set(command.indexOf("-n") + 1, "-1"); // runs until the context is full: long enough to interrupt
        Process p = CliProcess.start(command.toArray(String[]::new));
        var err = CliProcess.drain(p.getErrorStream());
        try (InputStream out = p.getInputStream()) {
            assertTrue(out.read() >= 0, "the answer starts streaming");
            p.toHandle().destroy(); // SIGTERM, which runs the same hook as Ctrl-C; Process.destroy would close our pipes
            out.transferTo(OutputStream.nullOutputStream()); // never let the process block on a full pipe
        }
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the CLI exits soon after SIGTERM");
        String stderr = new String(err.join(), StandardCharsets.UTF_8);
        assertEquals(143, p.exitValue(), stderr); // 128 + SIGTERM; Ctrl-C (SIGINT) gives 130
        assertTrue(stderr.contains("qwenvl: interrupted; prompt ") && stderr.contains("stopped: cancelled"), stderr);
    }

    private static void assertOneLineError(CliProcess.Result r, String expected) {
        String err = r.stderr().strip();
        assertTrue(err.startsWith("qwenvl: error: ") && err.contains(expected) && err.lines().count() == 1,
                r::toString);
    }
}
