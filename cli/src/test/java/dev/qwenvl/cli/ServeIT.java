package dev.qwenvl.cli;

import dev.qwenvl.testing.ModelPair;
import dev.qwenvl.testing.Spec;
import dev.qwenvl.testing.TinyModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code java -jar qwenvl.jar serve} as a user starts it: it listens, loads, answers, and stops on SIGTERM. */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class ServeIT {
    private static final Pattern READY = Pattern.compile("ready at (http://127\\.0\\.0\\.1:\\d+)/");

    @Test
    void servesTheApiAndThePageOnLoopbackThenStops() throws Exception {
        ModelPair pair = TinyModels.pair(Spec.tiny(Spec.Projector.QWEN25VL));
        Process p = CliProcess.start("serve", "-m", pair.text().toString(), "--mmproj", pair.mmproj().toString(),
                "--port", "0", "-t", "2", "-fa", "off", "--api-key", "k3y");
        try {
            CliProcess.drain(p.getInputStream());
            BufferedReader err = new BufferedReader(new InputStreamReader(p.getErrorStream(), StandardCharsets.UTF_8));
            URI base = null;
            StringBuilder said = new StringBuilder();
            for (String line; base == null && (line = err.readLine()) != null; ) {
                said.append(line).append('\n');
                Matcher m = READY.matcher(line);
                if (m.find()) {
                    base = URI.create(m.group(1));
                }
            }
            assertTrue(base != null, "serve never said it was ready: " + said);
            CliProcess.drain(p.getErrorStream());
            HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
            assertEquals(200, http.send(HttpRequest.newBuilder(base.resolve("/health")).build(),
                    HttpResponse.BodyHandlers.ofString()).statusCode());
            HttpResponse<String> page = http.send(HttpRequest.newBuilder(base.resolve("/")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertTrue(page.body().contains("<script src=\"chat.js\">"), page.body());
            HttpResponse<String> answer = http.send(HttpRequest.newBuilder(base.resolve("/v1/chat/completions"))
                    .header("Authorization", "Bearer k3y").header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                            + "\"max_tokens\":4,\"temperature\":0}")).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, answer.statusCode(), answer.body());
            assertTrue(answer.body().contains("\"completion_tokens\":4"), answer.body());
            assertEquals(401, http.send(HttpRequest.newBuilder(base.resolve("/v1/models")).build(),
                    HttpResponse.BodyHandlers.ofString()).statusCode());
        } finally {
            p.destroy();
            assertTrue(p.waitFor(30, TimeUnit.SECONDS), "serve stopped on SIGTERM");
            p.destroyForcibly();
        }
    }

    @Test
    void refusesPrivateHostsWithoutRemoteImages() {
        CliProcess.Result r = CliProcess.run("serve", "--allow-private-image-hosts", "-m", "a.gguf", "--mmproj",
                "b.gguf");
        assertEquals(ExitCodes.USAGE, r.exitCode(), r.toString());
        assertTrue(r.stderr().contains("--allow-remote-images"), r.stderr());
    }
}
