package dev.qwenvl.cli;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.InputStream;
import java.io.PrintStream;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.util.Locale;

/**
 * The process's standard streams, UTF-8 whatever the locale (an answer's bytes must not depend on it), and whether
 * stdin and stderr are terminals.
 *
 * @param in               stdin
 * @param out              stdout: answers only
 * @param err              stderr: prompts, progress, statistics and errors
 * @param stdinIsTerminal  stdin is a terminal (so no prompt is piped in)
 * @param stderrIsTerminal stderr is a terminal (so a progress bar can redraw itself)
 */
record Terminal(InputStream in, PrintStream out, PrintStream err, boolean stdinIsTerminal, boolean stderrIsTerminal) {

    static Terminal system() {
        return new Terminal(System.in,
                new PrintStream(new FileOutputStream(FileDescriptor.out), false, StandardCharsets.UTF_8),
                new PrintStream(new FileOutputStream(FileDescriptor.err), true, StandardCharsets.UTF_8),
                isatty(0), isatty(2));
    }

    /**
     * isatty(3) through the C library. {@link System#console()} cannot tell: since JDK 22 it exists for redirected
     * streams too, and its isTerminal() needs both stdin and stdout to be terminals.
     */
    private static boolean isatty(int fd) {
        boolean windows = System.getProperty("os.name").toLowerCase(Locale.ROOT).contains("win");
        Linker linker = Linker.nativeLinker();
        try {
            MethodHandle h = linker.downcallHandle(linker.defaultLookup().find(windows ? "_isatty" : "isatty")
                    .orElseThrow(), FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
            return (int) h.invokeExact(fd) != 0;
        } catch (Throwable e) {
            var console = System.console(); // no C library symbol: fall back to the JDK's coarser answer
            return console != null && console.isTerminal();
        }
    }
}
