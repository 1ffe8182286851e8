package dev.qwenvl.cli;

import dev.qwenvl.ContextOverflowException;
import dev.qwenvl.ImageException;
import dev.qwenvl.InvalidModelException;
import dev.qwenvl.ModelLoadException;
import dev.qwenvl.NativeLibraryException;
import dev.qwenvl.PromptException;
import dev.qwenvl.cli.hub.HubException;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.util.stream.Collectors;

/**
 * The exit statuses of {@code qwenvl}, and the handlers that turn an exception into one line on stderr and its status.
 * A stack trace follows the line only under {@code --verbose}.
 */
final class ExitCodes implements CommandLine.IExecutionExceptionHandler, CommandLine.IParameterExceptionHandler {
    static final int OK = 0;
    /** Generation failed in llama.cpp, or any other runtime error. */
    static final int RUNTIME = 1;
    /** The command line is wrong (Picocli's usage status). */
    static final int USAGE = 2;
    /** An image, the prompt or stdin could not be read or used, or the message does not fit the context. */
    static final int INPUT = 3;
    /** The model or mmproj is missing, invalid, refused by llama.cpp, or could not be fetched from the Hub. */
    static final int MODEL = 4;
    /** The native llama.cpp libraries could not be found or loaded. */
    static final int NATIVE = 5;
    /** Stopped by Ctrl-C (SIGINT): the JVM's own 128 + 2. */
    static final int INTERRUPTED = 130;

    static final String VERBOSE = "--verbose";

    /** The status for an exception thrown while the command ran. */
    static int of(Throwable e) {
        return switch (e) {
            case InputException x -> INPUT;
            case ImageException x -> INPUT;
            case PromptException x -> INPUT;
            case ContextOverflowException x -> INPUT;
            case InvalidModelException x -> MODEL;
            case ModelLoadException x -> MODEL;
            case HubException x -> MODEL;
            case NativeLibraryException x -> NATIVE;
            default -> RUNTIME;
        };
    }

    /** Prints {@code qwenvl: error: MESSAGE} on one line, then the stack trace when verbose. */
    static void report(PrintWriter err, Throwable e, boolean verbose) {
        err.println("qwenvl: error: " + oneLine(e));
        if (verbose) {
            e.printStackTrace(err);
        }
        err.flush();
    }

    /** The message with its lines joined; the class name where there is no message (a bug rather than bad input). */
    static String oneLine(Throwable e) {
        String message = e.getMessage();
        if (message == null || message.isBlank()) {
            return e.toString();
        }
        return message.lines().map(String::strip).filter(s -> !s.isEmpty()).collect(Collectors.joining(" "));
    }

    @Override
    public int handleExecutionException(Exception e, CommandLine commandLine, CommandLine.ParseResult parsed) {
        report(commandLine.getErr(), e, verbose(parsed));
        return of(e);
    }

    @Override
    public int handleParseException(CommandLine.ParameterException e, String[] args) {
        CommandLine cl = e.getCommandLine();
        PrintWriter err = cl.getErr();
        err.println("qwenvl: " + oneLine(e) + " (see '" + cl.getCommandSpec().qualifiedName() + " --help')");
        err.flush();
        return USAGE;
    }

    /** Whether --verbose was given to the command or any subcommand. */
    private static boolean verbose(CommandLine.ParseResult parsed) {
        for (CommandLine.ParseResult p = parsed; p != null; p = p.subcommand()) {
            if (p.hasMatchedOption(VERBOSE)) {
                return true;
            }
        }
        return false;
    }
}
