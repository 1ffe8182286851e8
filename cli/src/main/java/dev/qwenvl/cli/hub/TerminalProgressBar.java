package dev.qwenvl.cli.hub;

import java.io.PrintStream;
import java.util.Locale;

/**
 * Draws one self-overwriting line per file, e.g.
 * {@code Qwen2.5-VL-3B-Instruct-Q4_K_M.gguf [=========>          ]  48%  0.9/1.9 GiB}, on a terminal stream
 * (typically {@code System.err}, keeping stdout clean for the answer).
 */
public final class TerminalProgressBar implements DownloadProgress {

    private static final int WIDTH = 30;
    // Redrawing on every buffer would flood a slow terminal; 10 updates a second read as smooth.
    private static final long REDRAW_NANOS = 100_000_000L;

    private final PrintStream out;
    private long lastDraw;

    /** A bar drawn on {@code out}. */
    public TerminalProgressBar(PrintStream out) {
        this.out = out;
    }

    @Override
    public void started(String file, long doneBytes, long totalBytes) {
        lastDraw = System.nanoTime();
        draw(file, doneBytes, totalBytes);
    }

    @Override
    public void advanced(String file, long doneBytes, long totalBytes) {
        long now = System.nanoTime();
        if (now - lastDraw >= REDRAW_NANOS) {
            lastDraw = now;
            draw(file, doneBytes, totalBytes);
        }
    }

    @Override
    public void finished(String file, long totalBytes) {
        draw(file, totalBytes, totalBytes);
        out.print('\n');
        out.flush();
    }

    private void draw(String file, long done, long total) {
        String name = file.substring(file.lastIndexOf('/') + 1);
        if (total <= 0) {
            out.print("\r" + name + " " + size(done) + "   ");
        } else {
            int filled = (int) (WIDTH * done / total);
            String bar = "=".repeat(filled) + (filled < WIDTH ? ">" + " ".repeat(WIDTH - filled - 1) : "");
            out.printf(Locale.ROOT, "\r%s [%s] %3d%%  %s/%s   ", name, bar, 100 * done / total, size(done), size(total));
        }
        out.flush();
    }

    static String size(long bytes) {
        if (bytes < 1024 * 1024) {
            return String.format(Locale.ROOT, "%.1f KiB", bytes / 1024.0);
        }
        if (bytes < 1024L * 1024 * 1024) {
            return String.format(Locale.ROOT, "%.1f MiB", bytes / (1024.0 * 1024));
        }
        return String.format(Locale.ROOT, "%.2f GiB", bytes / (1024.0 * 1024 * 1024));
    }
}
