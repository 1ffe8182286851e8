package dev.qwenvl.bindings;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout.PathElement;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every generated struct and union layout has the size, alignment and field offsets that gcc gives the same headers.
 * The generator writes a C probe (sizeof, _Alignof, offsetof of everything it generated); gcc compiles and runs it.
 */
class AbiTest {
    private static final String PACKAGE = "dev.qwenvl.bindings.";

    @Test
    void layoutsMatchTheCCompiler(@TempDir Path work) throws Exception {
        List<String> probe = probeOutput(work);
        List<String> mismatches = new ArrayList<>();
        Set<String> probed = new TreeSet<>();
        for (String line : probe) {
            String[] f = line.split(" ");
            GroupLayout layout = layoutOf(f[1]);
            if (f[0].equals("S")) {
                probed.add(f[1]);
                expect(mismatches, f[1] + " size", Long.parseLong(f[2]), layout.byteSize());
                expect(mismatches, f[1] + " alignment", Long.parseLong(f[3]), layout.byteAlignment());
            } else {
                PathElement[] path = Arrays.stream(f[2].split("/")).map(PathElement::groupElement)
                        .toArray(PathElement[]::new);
                long offset = Long.parseLong(f[3]);
                expect(mismatches, f[1] + "." + f[2] + " layout offset", offset, layout.byteOffset(path));
                expect(mismatches, f[1] + "." + f[2] + " $offset()", offset, offsetConstant(f[1], f[2]));
            }
        }
        assertTrue(mismatches.isEmpty(), "layouts differ from gcc's:\n" + String.join("\n", mismatches));
        Set<String> generated = generatedRecordClasses();
        assertEquals(generated, probed.stream().filter(n -> !n.contains("$")).collect(TreeSet::new, Set::add,
                Set::addAll), "the probe must cover exactly the generated struct/union classes");
    }

    private static List<String> probeOutput(Path work) throws IOException, InterruptedException {
        Path repo = GeneratorProcess.repo();
        Path src = GeneratorProcess.llamaSrc();
        Path c = work.resolve("abi_probe.c");
        Path exe = work.resolve("abi_probe");
        GeneratorProcess.run(repo, List.of(GeneratorProcess.python(), "bindings/generator/generate.py",
                "--llama-src", src.toString(), "--repo", repo.toString(), "--probe", c.toString()));
        GeneratorProcess.run(work, List.of("gcc", "-std=c11", "-I" + src.resolve("include"),
                "-I" + src.resolve("ggml/include"), "-I" + src.resolve("tools/mtmd"),
                "-I" + repo.resolve("native/shim"), c.toString(), "-o", exe.toString()));
        List<String> lines = GeneratorProcess.run(work, List.of(exe.toString())).lines().toList();
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("S llama_model_params ")), "probe printed " + lines);
        return lines;
    }

    private static GroupLayout layoutOf(String binaryName) {
        try {
            return (GroupLayout) Class.forName(PACKAGE + binaryName).getMethod("layout").invoke(null);
        } catch (ReflectiveOperationException e) {
            throw new AssertionError("no generated layout() for " + binaryName, e);
        }
    }

    /** The field's literal offset constant, which jextract-shaped code uses in its getters and setters. */
    private static long offsetConstant(String binaryName, String path) {
        String field = path.substring(path.lastIndexOf('/') + 1);
        try {
            Class<?> c = Class.forName(PACKAGE + binaryName);
            String name = field + "$offset";
            if (Arrays.stream(c.getMethods()).noneMatch(m -> m.getName().equals(name))) {
                return (long) c.getMethod(field + "_$offset").invoke(null); // Java keywords get a trailing _
            }
            return (long) c.getMethod(name).invoke(null);
        } catch (ReflectiveOperationException e) {
            throw new AssertionError("no " + field + "$offset() in " + binaryName, e);
        }
    }

    private static Set<String> generatedRecordClasses() throws IOException {
        Path dir = GeneratorProcess.repo().resolve("bindings/src/generated/java/dev/qwenvl/bindings");
        Set<String> out = new TreeSet<>();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path p : files.toList()) {
                String text = Files.readString(p);
                if (text.contains("private static final GroupLayout $LAYOUT")) {
                    out.add(p.getFileName().toString().replace(".java", ""));
                }
            }
        }
        return out;
    }

    private static void expect(List<String> mismatches, String what, long c, long java) {
        if (c != java) {
            mismatches.add(what + ": C " + c + ", Java " + java);
        }
    }
}
