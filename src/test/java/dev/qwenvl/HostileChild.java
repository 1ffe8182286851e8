package dev.qwenvl;

import dev.qwenvl.testing.ModelPair;
import dev.qwenvl.testing.Spec;
import dev.qwenvl.testing.TinyModels;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * The main class of the child JVMs that {@link HostileJvm} starts: runs the named cases of one suite, printing
 * {@code @@START name} before each and {@code @@RESULT name, OK|THREW, type, detail} after it, so that the parent
 * knows which case a crash interrupted. Its main returns without {@code System.exit}: a non-daemon thread left alive
 * keeps the JVM up and fails the parent's timeout.
 *
 * <p>Arguments: suite, count of suite arguments, the suite arguments, then case names (none: all of them, listed
 * first as {@code @@CASES}).
 */
public final class HostileChild {
    /** One case: returns a one-line description of what happened, or throws. */
    @FunctionalInterface
    interface Case {
        String run() throws Exception;
    }

    private static final PrintStream OUT = new PrintStream(System.out, true, StandardCharsets.UTF_8);

    private HostileChild() {
    }

    public static void main(String[] args) throws Exception {
        String suite = args[0];
        int n = Integer.parseInt(args[1]);
        List<String> suiteArgs = Arrays.asList(args).subList(2, 2 + n);
        List<String> names = Arrays.asList(args).subList(2 + n, args.length);
        Map<String, Case> cases = switch (suite) {
            case "models" -> HostileModelFilesTest.facadeCases(suiteArgs);
            case "models-native" -> HostileModelFilesTest.nativeCases(suiteArgs);
            case "images" -> HostileImagesTest.cases(suiteArgs);
            case "prompts" -> HostilePromptsTest.cases(suiteArgs);
            case "misuse" -> HostileMisuseTest.cases(suiteArgs);
            case "contract" -> HostileContractTest.cases(suiteArgs);
            case "leaks" -> HostileLeaksTest.cases(suiteArgs);
            case "rpc" -> RpcTest.cases(suiteArgs);
            case "rpc-dies" -> RpcTest.dyingCases(suiteArgs);
            default -> throw new IllegalArgumentException("unknown suite " + suite);
        };
        if (names.isEmpty()) {
            names = List.copyOf(cases.keySet());
            OUT.println("@@CASES " + String.join("\t", names));
        }
        for (String name : names) {
            Case c = cases.get(name);
            OUT.println("@@START " + name);
            String kind;
            String type = "";
            String detail;
            try {
                detail = c.run();
                kind = "OK";
            } catch (Throwable t) {
                kind = "THREW";
                type = t.getClass().getName();
                detail = String.valueOf(t.getMessage());
            }
            OUT.println("@@RESULT " + name + "\t" + kind + "\t" + type + "\t" + oneLine(detail));
        }
        info("threads " + Thread.getAllStackTraces().keySet().stream()
                .filter(t -> !t.isDaemon() && t != Thread.currentThread() && t.isAlive())
                .map(Thread::getName).collect(Collectors.joining(",", "[", "]")));
    }

    /** The tiny Qwen2.5-VL pair, generated on first use (the parent calls this first, so children find it cached). */
    static ModelPair tinyPair() {
        return TinyModels.pair(Spec.tiny(Spec.Projector.QWEN25VL));
    }

    static VisionLanguageModel tinyModel(ModelOptions options) {
        ModelPair pair = tinyPair();
        return VisionLanguageModel.load(pair.text(), pair.mmproj(), options);
    }

    /** A line for the parent to read back (measurements and diagnostics). */
    static void info(String line) {
        OUT.println("@@INFO " + oneLine(line));
    }

    private static String oneLine(String s) {
        return s.replace('\n', ' ').replace('\r', ' ').replace('\t', ' ');
    }
}
