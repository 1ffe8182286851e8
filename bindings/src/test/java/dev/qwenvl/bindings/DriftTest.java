package dev.qwenvl.bindings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.DisabledIfSystemProperty;
import org.junit.jupiter.api.io.TempDir;

/** The committed bindings are exactly what the generator makes from the pinned headers: nobody edited them by hand. */
// macOS CI has no libclang 16; the Linux job keeps the check.
@DisabledIfSystemProperty(named = "qwenvl.skipDrift", matches = "true")
class DriftTest {

    @Test
    void committedBindingsEqualAFreshGeneration(@TempDir Path fresh) throws Exception {
        Path repo = GeneratorProcess.repo();
        GeneratorProcess.run(repo, List.of("bash", "scripts/generate-bindings.sh", fresh.toString()));
        Map<String, byte[]> expected = files(fresh);
        Map<String, byte[]> committed = files(repo.resolve("bindings/src/generated/java"));
        assertEquals(expected.keySet(), committed.keySet(),
                "generated file set differs from bindings/src/generated/java; run scripts/generate-bindings.sh");
        List<String> differing = expected.keySet().stream()
                .filter(f -> !Arrays.equals(expected.get(f), committed.get(f)))
                .toList();
        assertTrue(differing.isEmpty(), "committed bindings differ from the generator's output in " + differing
                + "; run scripts/generate-bindings.sh");
    }

    private static Map<String, byte[]> files(Path root) throws IOException {
        Map<String, byte[]> out = new TreeMap<>();
        try (Stream<Path> walk = Files.walk(root)) {
            for (Path p : walk.filter(Files::isRegularFile).toList()) {
                out.put(root.relativize(p).toString(), Files.readAllBytes(p));
            }
        }
        return out;
    }
}
