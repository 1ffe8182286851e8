package dev.qwenvl.natives;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Loading in fresh JVMs (the loader loads once per JVM): from an explicit directory, from the natives jar into a
 * cache directory that concurrent JVMs share, and the error when nothing is found.
 */
class NativeLibrariesTest {

    /** Loads the libraries and prints where from; a child JVM's main. */
    public static void main(String[] args) {
        Path dir = NativeLibraries.load();
        System.out.println("loaded from " + dir);
    }

    @Test
    void explicitDirectoryIsUsed() throws Exception {
        String bin = System.getProperty("qwenvl.native.bin");
        Child c = run(List.of("-D" + NativeLibraries.PATH_PROPERTY + "=" + bin), null, classPath());
        assertEquals(0, c.exit(), c.output());
        assertTrue(c.output().contains("loaded from " + Path.of(bin).toAbsolutePath()), c.output());
    }

    @Test
    void nativesJarIsExtractedOnceForConcurrentJvms(@TempDir Path cache) throws Exception {
        String cp = classPath();
        assertTrue(cp.contains("qwenvl-natives") || cp.contains("native" + File.separator + "target"),
                "the natives jar or its classes must be on the test class path: " + cp);
        List<Process> children = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            children.add(start(List.of(), cache, cp));
        }
        for (Process p : children) {
            assertTrue(p.waitFor(120, TimeUnit.SECONDS));
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertEquals(0, p.exitValue(), out);
            assertTrue(out.contains("loaded from " + cache.resolve("natives")), out);
        }
        try (var dirs = Files.list(cache.resolve("natives"))) {
            assertEquals(1, dirs.filter(d -> !d.getFileName().toString().startsWith(".")).count(),
                    "one extraction, shared by every JVM");
        }
    }

    @Test
    void missingLibrariesNameThePlatformThePathsAndTheFix(@TempDir Path empty) throws Exception {
        Child c = run(List.of("-D" + NativeLibraries.PATH_PROPERTY + "=" + empty), null, classPath());
        assertEquals(1, c.exit(), c.output());
        assertTrue(c.output().contains("NativeLibraryException"), c.output());
        assertTrue(c.output().contains(NativeLibraries.platform()), c.output());
        assertTrue(c.output().contains(empty.toString()), c.output());
        assertTrue(c.output().contains("scripts/build-native.sh"), c.output());
    }

    @Test
    void directoryWithTheAmxVariantIsRefusedBeforeGgmlCanPickIt(@TempDir Path dir) throws Exception {
        Path bin = Path.of(System.getProperty("qwenvl.native.bin"));
        try (var files = Files.list(bin)) {
            for (Path f : files.filter(Files::isRegularFile).toList()) {
                Files.createSymbolicLink(dir.resolve(f.getFileName()), f.toAbsolutePath());
            }
        }
        Files.createFile(dir.resolve("libggml-cpu-sapphirerapids.so"));
        Child c = run(List.of("-D" + NativeLibraries.PATH_PROPERTY + "=" + dir), null, classPath());
        assertEquals(1, c.exit(), c.output());
        assertTrue(c.output().contains("NativeLibraryException"), c.output());
        assertTrue(c.output().contains("libggml-cpu-sapphirerapids.so") && c.output().contains("SIGILL"), c.output());
    }

    @Test
    void gpuJarWithoutItsDriverIsPassedOverWithOneLine(@TempDir Path gpuJar, @TempDir Path cache) throws Exception {
        Assumptions.assumeFalse(Files.exists(Path.of("/dev/nvidia0")), "this machine has an NVIDIA GPU");
        String classifier = NativeLibraries.platform() + "-cuda";
        Path dir = Files.createDirectories(gpuJar.resolve("dev/qwenvl/natives/" + classifier));
        Files.writeString(dir.resolve("natives.list"), "libggml-base.so.0\nmodule:libggml-cuda.so\n");
        Child c = run(List.of(), cache, classPath() + File.pathSeparator + gpuJar);
        assertEquals(0, c.exit(), c.output());
        assertEquals(1, c.output().lines().filter(l -> l.contains("the " + classifier + " natives are on the class"
                + " path, but its driver library (libcuda.so.1")).count(), c.output());
        assertTrue(c.output().contains("loaded from " + cache.resolve("natives").resolve(NativeLibraries.platform()
                + "-")), c.output());
    }

    /**
     * The libraries and tools search only their own directory: no build-machine path (a CUDA toolkit's, a link
     * stub's) and no empty entry, which the dynamic linker reads as the working directory.
     */
    @Test
    void everyLibraryAndToolSearchesOnlyItsOwnDirectory() throws Exception {
        Assumptions.assumeTrue(NativeLibraries.platform().startsWith("linux"), "ELF's RUNPATH is Linux's");
        Path bin = Path.of(System.getProperty("qwenvl.native.bin"));
        List<Path> files = new ArrayList<>();
        for (String line : Files.readAllLines(bin.resolve("natives.list"))) {
            files.add(bin.resolve(line.replaceFirst("^module:", "")));
        }
        files.add(bin.resolve("llama-mtmd-cli"));
        for (Path f : files) {
            Process p = new ProcessBuilder("readelf", "-d", f.toString()).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(30, TimeUnit.SECONDS));
            assertEquals(0, p.exitValue(), out);
            for (String line : out.lines().filter(l -> l.contains("(RUNPATH)") || l.contains("(RPATH)")).toList()) {
                assertEquals("$ORIGIN", line.replaceFirst(".*path: \\[(.*)\\]$", "$1"), f + ": " + line);
            }
        }
    }

    /**
     * A GPU module that does not load says which library the dynamic linker could not find (say libcublas.so.13),
     * not only Java's "Cannot open library". The module is a real shared library, built here, needing one deleted.
     */
    @Test
    void aGpuModuleThatDoesNotLoadNamesTheLibraryItLacks(@TempDir Path dir) throws Exception {
        Assumptions.assumeTrue(NativeLibraries.platform().startsWith("linux"), "built with gcc as an ELF module");
        Files.writeString(dir.resolve("missing.c"), "int qwenvl_missing(void) { return 1; }\n");
        Files.writeString(dir.resolve("module.c"), "int qwenvl_missing(void);\nint f(void) { return qwenvl_missing(); }\n");
        gcc(dir, "-shared", "-fPIC", "-o", "libqwenvl-missing.so.1", "-Wl,-soname,libqwenvl-missing.so.1", "missing.c");
        gcc(dir, "-shared", "-fPIC", "-o", "libggml-cuda.so", "module.c", "-Wl,--no-as-needed",
                dir.resolve("libqwenvl-missing.so.1").toString());
        Files.delete(dir.resolve("libqwenvl-missing.so.1"));
        Files.writeString(dir.resolve("natives.list"), "module:libggml-cuda.so\n");
        String why = NativeLibraries.whyModuleFails(dir, GpuBackend.CUDA).orElseThrow();
        assertTrue(why.startsWith("libggml-cuda.so does not load: ") && why.contains("libqwenvl-missing.so.1"), why);
    }

    private static void gcc(Path dir, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("gcc"));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
    }

    private record Child(int exit, String output) {
    }

    private static Child run(List<String> jvmArgs, Path cache, String cp) throws Exception {
        Process p = start(jvmArgs, cache, cp);
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS));
        return new Child(p.exitValue(), out);
    }

    private static Process start(List<String> jvmArgs, Path cache, String cp) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("--enable-native-access=ALL-UNNAMED");
        cmd.addAll(jvmArgs);
        cmd.addAll(List.of("-cp", cp, NativeLibrariesTest.class.getName()));
        ProcessBuilder b = new ProcessBuilder(cmd).redirectErrorStream(true);
        b.environment().remove(NativeLibraries.PATH_ENV);
        if (cache != null) {
            b.environment().put("QWENVL_CACHE", cache.toString());
        }
        return b.start();
    }

    private static String classPath() {
        return System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    }
}
