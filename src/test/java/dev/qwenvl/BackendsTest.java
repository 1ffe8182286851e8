package dev.qwenvl;

import dev.qwenvl.testing.ReferenceCli;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledOnOs;
import org.junit.jupiter.api.condition.OS;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What the CPU natives bring up, checked against what the kernel says about this machine. */
class BackendsTest {

    @Test
    @EnabledOnOs(OS.LINUX)
    void cpuNativesRunOnTheCpuTheKernelDescribes() throws IOException {
        Backends b = Backends.current();
        assertEquals(Path.of(System.getProperty(ReferenceCli.BIN_PROPERTY)).toAbsolutePath(), b.directory());
        assertTrue(b.gpuBuilt().isEmpty() && b.fallback().isEmpty(), b::toString);
        List<Backends.Device> used = b.inUse();
        assertEquals(1, used.size(), b::toString);
        Backends.Device cpu = used.getFirst();
        assertEquals("CPU", cpu.backend());
        assertEquals(Backends.Kind.CPU, cpu.kind());
        assertEquals(procValue("/proc/cpuinfo", "model name"), cpu.description());
        long memTotalKiB = Long.parseLong(procValue("/proc/meminfo", "MemTotal").replace("kB", "").strip());
        assertEquals(memTotalKiB * 1024, cpu.memoryBytes(), "ggml counts physical pages as /proc/meminfo does");
        assertTrue(b.summary().startsWith("CPU: CPU (" + cpu.description() + ", "), b.summary());
    }

    private static String procValue(String file, String key) throws IOException {
        return Files.readAllLines(Path.of(file)).stream().filter(l -> l.startsWith(key)).findFirst()
                .map(l -> l.substring(l.indexOf(':') + 1).strip()).orElseThrow();
    }
}
