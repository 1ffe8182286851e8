package dev.qwenvl.bench;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** One short benchmark repetition on the tiny pair: every row is produced and both sides did the same work. */
class BenchSmokeTest {
    @Test
    void smokeRunProducesEveryRow(@TempDir Path out) throws Exception {
        Report report = Bench.run(BenchOptions.parse("--smoke", "--out", out.toString()));
        String md = report.markdown();
        for (String row : Report.ROWS) {
            assertTrue(md.contains("| " + row), () -> "no row '" + row + "' in:\n" + md);
        }
        assertTrue(report.passed(), report::checks);
    }
}
