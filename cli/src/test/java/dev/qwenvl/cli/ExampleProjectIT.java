package dev.qwenvl.cli;

import dev.qwenvl.Conversation;
import dev.qwenvl.Image;
import dev.qwenvl.Message;
import dev.qwenvl.SamplingOptions;
import dev.qwenvl.VisionLanguageModel;
import dev.qwenvl.testing.ModelPair;
import dev.qwenvl.testing.Spec;
import dev.qwenvl.testing.TestImages;
import dev.qwenvl.testing.TinyModels;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * examples/ask-image, a Maven project of its own, builds against the reactor's artifacts by their coordinates only
 * (the BOM and {@code dev.qwenvl:qwenvl}) and answers a question about an image as the facade does.
 *
 * <p>invoker:install put the reactor's artifacts and their dependencies into a local repository of the example's own
 * ({@code qwenvl.example.repo}, under target/), so nothing is installed into ~/.m2. What else the example's build
 * needs (its plugins) comes from Central mirrored to this build's own local repository, read as a file repository:
 * no network, and no qwenvl snapshot from there, as Central serves none. Its natives come out of the natives jar it
 * resolved, not from the build tree.
 */
class ExampleProjectIT {
    private static final long TIMEOUT_SECONDS = 240;

    @Test
    void exampleBuildsFromTheCoordinatesAndAnswersAsTheFacade() throws IOException, InterruptedException {
        Path repo = Path.of(property("qwenvl.repo"));
        Path work = Files.createDirectories(Path.of(property("qwenvl.example.work")));
        Path png = TestImages.gradient(work.resolve("gradient.png"), 96, 64);
        ModelPair pair = TinyModels.pair(Spec.tiny(Spec.Projector.QWEN25VL));
        String question = "What is in this picture?";
        Path settings = Files.writeString(work.resolve("settings.xml"), """
                <settings>
                  <mirrors>
                    <mirror><id>this-build</id><mirrorOf>central</mirrorOf><url>%s</url></mirror>
                  </mirrors>
                </settings>
                """.formatted(Path.of(property("qwenvl.maven.local.repo")).toUri()));

        ProcessBuilder mvn = new ProcessBuilder(Path.of(property("qwenvl.maven.home"), "bin", "mvn").toString(),
                "-B", "-q", "-ntp", "-s", settings.toString(), "-Dmaven.repo.local=" + property("qwenvl.example.repo"),
                "-f", repo.resolve("examples/ask-image/pom.xml").toString(),
                "-Dqwenvl.version=" + property("qwenvl.version"),
                "-Dmodel=" + pair.text(), "-Dmmproj=" + pair.mmproj(), "-Dimage=" + png, "-Dquestion=" + question,
                "compile", "org.codehaus.mojo:exec-maven-plugin:3.5.0:exec");
        mvn.environment().remove("QWENVL_LIBRARY_PATH"); // the natives must come from the resolved jar
        mvn.environment().put("JAVA_HOME", System.getProperty("java.home"));
        Process p = mvn.start();
        CompletableFuture<byte[]> err = CompletableFuture.supplyAsync(() -> readAll(p.getErrorStream()));
        CompletableFuture<byte[]> out = CompletableFuture.supplyAsync(() -> readAll(p.getInputStream()));
        if (!p.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("the example build did not finish within " + TIMEOUT_SECONDS + " s");
        }
        // Debian's Maven 3.8 writes colour resets (ESC[0m) even in batch mode; they are not the example's output
        String stdout = new String(out.join(), StandardCharsets.UTF_8).replaceAll("\u001B\\[[0-9;]*m", "");
        String report = "stdout [" + stdout + "], stderr [" + new String(err.join(), StandardCharsets.UTF_8) + "]";
        assertEquals(0, p.exitValue(), report);

        String expected;
        try (VisionLanguageModel model = VisionLanguageModel.load(pair.text(), pair.mmproj());
             Conversation chat = model.newConversation()) {
            expected = chat.ask(Message.of(question, Image.read(png)), SamplingOptions.greedy().withMaxTokens(32))
                    .text();
        }
        assertEquals(expected + "\n", stdout, report); // quiet Maven: the answer is all its stdout
    }

    private static byte[] readAll(InputStream in) {
        try (in) {
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String property(String name) {
        String value = System.getProperty(name);
        if (value == null || value.isBlank()) {
            throw new IllegalStateException("system property " + name + " is not set; run this test through Maven");
        }
        return value;
    }
}
