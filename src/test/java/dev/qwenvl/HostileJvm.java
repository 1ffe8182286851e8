package dev.qwenvl;

import org.junit.jupiter.api.DynamicTest;

import org.junit.jupiter.api.Assertions;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Runs named {@link HostileChild} cases in child JVMs, so that a SIGSEGV or an abort() in native code fails the case
 * that caused it instead of killing the test run. When a child dies, the case it was running is recorded as a crash
 * (with its exit status, the end of its stderr and its hs_err file) and the remaining cases go on in a fresh child.
 */
final class HostileJvm {
    /** ggml_abort's own line: {@code file.cpp:LINE: message}. */
    private static final Pattern GGML_ABORT_LINE = Pattern.compile("\\.(c|cpp):\\d+: ");
    /** What one case did: {@code ok} with a detail, a Java exception, or a crash of its JVM. */
    record Outcome(String name, Kind kind, String type, String detail) {
        enum Kind { OK, THREW, CRASHED }

        boolean threw(Class<? extends Throwable> expected) {
            return kind == Kind.THREW && type.equals(expected.getName());
        }

        String row() {
            return String.format("| %-34s | %-7s | %s |", name, kind,
                    (type.isEmpty() ? "" : type.substring(type.lastIndexOf('.') + 1) + ": ") + detail);
        }
    }

    private final Path workDir;
    private final List<String> jvmOptions;
    private final long timeoutSeconds;

    HostileJvm(Path workDir, long timeoutSeconds, String... jvmOptions) {
        this.workDir = workDir;
        this.timeoutSeconds = timeoutSeconds;
        this.jvmOptions = List.of(jvmOptions);
    }

    /** Runs every case of {@code suite}, restarting the child after each crash. */
    Map<String, Outcome> run(String suite, List<String> suiteArgs) {
        return run(suite, suiteArgs, List.of());
    }

    /** Runs the named cases of {@code suite} (all if none are named), restarting the child after each crash. */
    Map<String, Outcome> run(String suite, List<String> suiteArgs, List<String> cases) {
        Map<String, Outcome> outcomes = new LinkedHashMap<>();
        List<String> left = new ArrayList<>(cases);
        int attempt = 0;
        do {
            Child child = start(suite, suiteArgs, left, attempt++);
            if (left.isEmpty()) {
                left.addAll(child.all);
            }
            for (Outcome o : child.outcomes) {
                outcomes.put(o.name(), o);
                left.remove(o.name());
            }
            if (child.crashedIn != null) {
                outcomes.put(child.crashedIn, new Outcome(child.crashedIn, Outcome.Kind.CRASHED, "exit " + child.exit,
                        child.crashReport()));
                left.remove(child.crashedIn);
            } else if (!left.isEmpty()) {
                throw new AssertionError("child JVM for " + suite + " exited with " + child.exit + " before running "
                        + left + "; stderr ends:\n" + child.stderrTail());
            } else if (child.exit != 0) {
                throw new AssertionError("child JVM for " + suite + " ran every case but exited with " + child.exit
                        + "; stderr ends:\n" + child.stderrTail());
            }
        } while (!left.isEmpty());
        return outcomes;
    }

    /** The lines a child printed with the {@code @@INFO} prefix in its last run (measurements, live threads). */
    List<String> lastInfo() {
        return lastInfo;
    }

    private List<String> lastInfo = List.of();

    private final class Child {
        final List<Outcome> outcomes = new ArrayList<>();
        final List<String> all = new ArrayList<>();
        String crashedIn;
        int exit;
        Path stderr;
        Path hsErrDir;

        String stderrTail() {
            try {
                String s = Files.readString(stderr, StandardCharsets.ISO_8859_1);
                return s.substring(Math.max(0, s.length() - 3000));
            } catch (IOException e) {
                return "(unreadable: " + e + ")";
            }
        }

        String crashReport() {
            String hsErr = "";
            try (Stream<Path> files = Files.list(hsErrDir)) {
                hsErr = files.filter(p -> p.getFileName().toString().startsWith("hs_err")).findFirst()
                        .map(p -> " hs_err: " + p + " " + problematicFrame(p)).orElse("");
            } catch (IOException e) {
                hsErr = " (hs_err dir unreadable)";
            }
            String assertion = stderrTail().lines()
                    .filter(l -> l.contains("GGML_ASSERT") || l.contains("GGML_ABORT") || l.contains("terminate called")
                            || l.contains("what():") || GGML_ABORT_LINE.matcher(l).find()).reduce((a, b) -> b)
                    .orElse("");
            return (!hsErr.isEmpty() ? "fatal signal in native code;" : exit == 134 ? "abort()" : "died") + hsErr
                    + (assertion.isEmpty() ? "" : "; " + assertion.strip());
        }
    }

    private static String problematicFrame(Path hsErr) {
        try (Stream<String> lines = Files.lines(hsErr, StandardCharsets.ISO_8859_1)) {
            return lines.filter(l -> l.startsWith("# C  ") || l.startsWith("# J ") || l.startsWith("# j  "))
                    .findFirst().orElse("");
        } catch (IOException | UncheckedIOException e) {
            return "";
        }
    }

    private Child start(String suite, List<String> suiteArgs, List<String> cases, int attempt) {
        Child child = new Child();
        try {
            Path dir = Files.createDirectories(workDir.resolve(suite + "-" + attempt));
            child.hsErrDir = dir;
            child.stderr = dir.resolve("stderr.txt");
            Path stdout = dir.resolve("stdout.txt");
            List<String> cmd = new ArrayList<>();
            cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
            cmd.add("--enable-native-access=ALL-UNNAMED");
            cmd.add("-XX:ErrorFile=" + dir.resolve("hs_err_pid%p.log"));
            cmd.add("-XX:-CreateCoredumpOnCrash");
            for (String p : List.of("qwenvl.library.path", "qwenvl.native.bin", "qwenvl.llama.src",
                    "qwenvl.fixtures.dir")) {
                if (System.getProperty(p) != null) {
                    cmd.add("-D" + p + "=" + System.getProperty(p));
                }
            }
            cmd.addAll(jvmOptions);
            cmd.add("-cp");
            cmd.add(System.getProperty("java.class.path"));
            cmd.add(HostileChild.class.getName());
            cmd.add(suite);
            cmd.add(String.valueOf(suiteArgs.size()));
            cmd.addAll(suiteArgs);
            cmd.addAll(cases);
            Process p = new ProcessBuilder(cmd).directory(dir.toFile())
                    .redirectOutput(stdout.toFile()).redirectError(child.stderr.toFile()).start();
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor();
                throw new AssertionError("child JVM for " + suite + " did not exit within " + timeoutSeconds
                        + " s (a hung case, or a non-daemon thread left alive); its output ends:\n"
                        + tail(Files.readString(stdout, StandardCharsets.UTF_8)) + "\nstderr:\n" + child.stderrTail());
            }
            child.exit = p.exitValue();
            List<String> info = new ArrayList<>();
            String started = null;
            for (String line : Files.readAllLines(stdout, StandardCharsets.UTF_8)) {
                if (line.startsWith("@@START ")) {
                    started = line.substring(8);
                } else if (line.startsWith("@@RESULT ")) {
                    String[] f = line.substring(9).split("\t", 4);
                    child.outcomes.add(new Outcome(f[0], Outcome.Kind.valueOf(f[1]), f[2], f[3]));
                    started = null;
                } else if (line.startsWith("@@CASES ")) {
                    child.all.addAll(List.of(line.substring(8).split("\t")));
                } else if (line.startsWith("@@INFO ")) {
                    info.add(line.substring(7));
                }
            }
            lastInfo = info;
            if (child.exit != 0) {
                child.crashedIn = started;
            }
            return child;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    private static String tail(String s) {
        return s.substring(Math.max(0, s.length() - 3000));
    }

    /** Prints a markdown table of the outcomes and keeps it as target/hostile-{name}.md, for the report. */
    static void report(String name, String title, Map<String, Outcome> outcomes) {
        StringBuilder s = new StringBuilder(title).append("\n\n| case | outcome | detail |\n|---|---|---|\n");
        outcomes.values().forEach(o -> s.append(o.row()).append('\n'));
        System.out.println(s);
        try {
            Files.writeString(Files.createDirectories(Path.of("target")).resolve("hostile-" + name + ".md"), s);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** One dynamic test per case, passing when the case ended as it should. */
    static Stream<DynamicTest> asTests(Map<String, Outcome> outcomes) {
        return outcomes.values().stream().map(o -> DynamicTest.dynamicTest(o.name(),
                () -> Assertions.assertEquals(Outcome.Kind.OK, o.kind(), o.row())));
    }
}
