package dev.qwenvl;

import dev.qwenvl.bindings.ggml_log_callback;

import java.lang.System.Logger.Level;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.Deque;

import static dev.qwenvl.bindings.qwenvl_h.GGML_LOG_LEVEL_CONT;
import static dev.qwenvl.bindings.qwenvl_h.GGML_LOG_LEVEL_DEBUG;
import static dev.qwenvl.bindings.qwenvl_h.GGML_LOG_LEVEL_ERROR;
import static dev.qwenvl.bindings.qwenvl_h.GGML_LOG_LEVEL_INFO;
import static dev.qwenvl.bindings.qwenvl_h.GGML_LOG_LEVEL_WARN;

/**
 * Routes llama.cpp, ggml and mtmd logs to the {@code System.Logger} named {@value #LOGGER_NAME}: errors at ERROR,
 * warnings at DEBUG, the rest at TRACE, so nothing prints unless that logger is turned up. It also remembers each
 * thread's last warnings and errors, so that an exception can say what llama.cpp complained about.
 */
final class NativeLog {
    static final String LOGGER_NAME = "dev.qwenvl.llama";
    private static final System.Logger LOG = System.getLogger(LOGGER_NAME);
    private static final int KEPT = 6;
    private static final ThreadLocal<StringBuilder> LINE = ThreadLocal.withInitial(StringBuilder::new);
    private static final ThreadLocal<Level[]> LAST_LEVEL = ThreadLocal.withInitial(() -> new Level[]{Level.TRACE});
    private static final ThreadLocal<Deque<String>> RECENT_ERRORS = ThreadLocal.withInitial(ArrayDeque::new);
    private static final ThreadLocal<Deque<String>> RECENT_WARNINGS = ThreadLocal.withInitial(ArrayDeque::new);

    private NativeLog() {
    }

    /** The upcall stub handed to llama_log_set and mtmd_helper_log_set; it lives as long as the JVM. */
    static MemorySegment callback() {
        return ggml_log_callback.allocate(NativeLog::onLog, Arena.global());
    }

    /**
     * What llama.cpp complained about on this thread since the last call, joined: its errors if it logged any (a
     * failed load's reason, not the load's warnings), else its warnings; empty if none.
     */
    static String drainRecent() {
        Deque<String> errors = RECENT_ERRORS.get();
        Deque<String> warnings = RECENT_WARNINGS.get();
        String joined = String.join("; ", errors.isEmpty() ? warnings : errors);
        errors.clear();
        warnings.clear();
        return joined;
    }

    /** Appends what llama.cpp last complained about on this thread to a message. */
    static String withRecent(String message) {
        String recent = drainRecent();
        return recent.isEmpty() ? message : message + " (llama.cpp: " + recent + ")";
    }

    private static void onLog(int level, MemorySegment text, MemorySegment userData) {
        try { // an exception escaping an upcall would end the JVM
            String piece = text.reinterpret(Long.MAX_VALUE).getString(0);
            Level lvl = level == GGML_LOG_LEVEL_CONT() ? LAST_LEVEL.get()[0] : map(level);
            LAST_LEVEL.get()[0] = lvl;
            StringBuilder line = LINE.get();
            line.append(piece);
            int nl;
            while ((nl = line.indexOf("\n")) >= 0) {
                String complete = line.substring(0, nl);
                line.delete(0, nl + 1);
                publish(lvl, level, complete);
            }
        } catch (Throwable ignored) {
            // logging must never take the process down
        }
    }

    private static void publish(Level lvl, int ggmlLevel, String line) {
        if (line.isBlank()) {
            return;
        }
        if (lvl == Level.ERROR || ggmlLevel == GGML_LOG_LEVEL_WARN()) {
            Deque<String> recent = (lvl == Level.ERROR ? RECENT_ERRORS : RECENT_WARNINGS).get();
            if (recent.size() == KEPT) {
                recent.removeFirst();
            }
            recent.addLast(line.strip());
        }
        if (LOG.isLoggable(lvl)) {
            LOG.log(lvl, line);
        }
    }

    private static Level map(int level) {
        if (level == GGML_LOG_LEVEL_ERROR()) {
            return Level.ERROR;
        }
        if (level == GGML_LOG_LEVEL_WARN()) {
            return Level.DEBUG;
        }
        if (level == GGML_LOG_LEVEL_INFO() || level == GGML_LOG_LEVEL_DEBUG()) {
            return Level.TRACE;
        }
        return Level.TRACE;
    }
}
