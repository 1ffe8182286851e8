package dev.qwenvl.cli.hub;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TerminalProgressBarTest {

    @Test
    void drawsOneOverwrittenLinePerFileAndEndsIt() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        TerminalProgressBar bar = new TerminalProgressBar(new PrintStream(bytes, true, StandardCharsets.UTF_8));

        bar.started("dir/model-Q4_K_M.gguf", 512L * 1024 * 1024, 2L * 1024 * 1024 * 1024);
        bar.finished("dir/model-Q4_K_M.gguf", 2L * 1024 * 1024 * 1024);

        String out = bytes.toString(StandardCharsets.UTF_8);
        assertTrue(out.startsWith("\rmodel-Q4_K_M.gguf [=======>"), out);
        assertTrue(out.contains(" 25%  512.0 MiB/2.00 GiB"), out);
        assertTrue(out.contains("[==============================] 100%  2.00 GiB/2.00 GiB"), out);
        assertTrue(out.endsWith("\n"), out);
        assertEquals(1, out.chars().filter(c -> c == '\n').count(), "one line, redrawn with \\r");
    }

    @Test
    void unknownSizeShowsBytesOnly() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        new TerminalProgressBar(new PrintStream(bytes, true, StandardCharsets.UTF_8)).started("f", 2048, -1);
        assertEquals("\rf 2.0 KiB   ", bytes.toString(StandardCharsets.UTF_8));
    }
}
