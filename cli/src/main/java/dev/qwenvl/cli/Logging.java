package dev.qwenvl.cli;

import java.util.logging.ConsoleHandler;
import java.util.logging.Formatter;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * Points the facade's {@code System.Logger}s (backed by java.util.logging) at stderr under {@code --verbose}, and
 * silences them otherwise: a failure then shows once, as the exception's one-line message, which already quotes
 * llama.cpp's last complaint.
 */
final class Logging {
    /** The facade routes llama.cpp, ggml and libmtmd logs to this logger. */
    static final String NATIVE_LOGGER = "dev.qwenvl.llama";
    private static final String FACADE_LOGGER = "dev.qwenvl";
    // java.util.logging holds loggers weakly: a configured logger must stay referenced or its settings vanish.
    private static Logger facade;
    private static Logger nativeLog;

    private Logging() {
    }

    static synchronized void configure(boolean verbose) {
        facade = Logger.getLogger(FACADE_LOGGER);
        nativeLog = Logger.getLogger(NATIVE_LOGGER);
        facade.setUseParentHandlers(false);
        for (var h : facade.getHandlers()) {
            facade.removeHandler(h);
        }
        if (!verbose) {
            facade.setLevel(Level.OFF);
            nativeLog.setLevel(Level.OFF);
            return;
        }
        ConsoleHandler stderr = new ConsoleHandler(); // writes to System.err and flushes every record
        stderr.setLevel(Level.ALL);
        stderr.setFormatter(new Formatter() {
            @Override
            public String format(LogRecord r) {
                String message = formatMessage(r);
                return r.getThrown() == null ? message + System.lineSeparator()
                        : message + ": " + r.getThrown() + System.lineSeparator();
            }
        });
        facade.addHandler(stderr);
        facade.setLevel(Level.FINEST);
        nativeLog.setLevel(Level.FINEST);
    }
}
