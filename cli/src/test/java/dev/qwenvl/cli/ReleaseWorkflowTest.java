package dev.qwenvl.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * .github/workflows/release.yml, parsed (it runs only on GitHub): one natives job per platform on its own runner,
 * every classifier the loader knows, the scripts it calls exist, and the assembly waits for and collects them all.
 */
class ReleaseWorkflowTest {
    private static final Path REPO = Path.of(System.getProperty("qwenvl.repo"));
    /** classifier -> runner label: each platform builds on a machine of its own OS and CPU. */
    private static final Map<String, String> PLATFORMS = new TreeMap<>(Map.of(
            "linux-x86_64", "ubuntu-24.04", "linux-aarch64", "ubuntu-24.04-arm", "macos-aarch64", "macos-14",
            "linux-x86_64-vulkan", "ubuntu-24.04", "linux-x86_64-cuda", "ubuntu-24.04",
            "macos-aarch64-metal", "macos-14"));

    @Test
    void everyPlatformBuildsOnItsRunnerAndTheAssemblyCollectsThemAll() throws IOException {
        JsonNode wf = new ObjectMapper(new YAMLFactory()).readTree(REPO.resolve(".github/workflows/release.yml")
                .toFile());
        JsonNode natives = wf.path("jobs").path("natives");
        Map<String, String> runners = new TreeMap<>();
        for (JsonNode row : natives.path("strategy").path("matrix").path("include")) {
            String classifier = row.path("classifier").asText();
            runners.put(classifier, row.path("runner").asText());
            String backend = row.path("backend").asText();
            boolean gpu = classifier.matches(".*-(cuda|vulkan|metal)");
            assertTrue(backend.equals("cpu") ? !gpu : classifier.endsWith("-" + backend), row.toString());
        }
        assertEquals(PLATFORMS, runners);
        assertEquals("${{ matrix.runner }}", natives.path("runs-on").asText());

        List<String> uploads = new ArrayList<>();
        for (JsonNode step : natives.path("steps")) {
            if (step.path("uses").asText().startsWith("actions/upload-artifact")) {
                uploads.add(step.path("with").path("name").asText());
            }
        }
        assertEquals(List.of("natives-${{ matrix.classifier }}"), uploads);

        JsonNode assemble = wf.path("jobs").path("assemble");
        assertEquals("natives", assemble.path("needs").asText());
        String allRuns = runs(assemble) + runs(natives);
        boolean downloads = false;
        for (JsonNode step : assemble.path("steps")) {
            downloads |= step.path("uses").asText().startsWith("actions/download-artifact")
                    && step.path("with").path("pattern").asText().equals("natives-*");
        }
        assertTrue(downloads, "the assembly downloads every natives-* artifact");
        for (String classifier : PLATFORMS.keySet()) {
            assertTrue(runs(assemble).contains(classifier), "the assembly checks for " + classifier);
        }
        Matcher scripts = Pattern.compile("scripts/[\\w.-]+").matcher(allRuns);
        int found = 0;
        while (scripts.find()) {
            found++;
            assertTrue(Files.isRegularFile(REPO.resolve(scripts.group())), scripts.group() + " does not exist");
        }
        assertTrue(found > 0, "the natives job builds through the repository's scripts");
    }

    private static String runs(JsonNode job) {
        StringBuilder out = new StringBuilder();
        job.path("steps").forEach(s -> out.append(s.path("run").asText()).append('\n'));
        return out.toString();
    }
}
