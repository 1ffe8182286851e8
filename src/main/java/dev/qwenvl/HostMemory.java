package dev.qwenvl;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.OptionalLong;

/**
 * The host memory a load may use: Linux's MemAvailable (free memory plus the page cache it can reclaim), capped by
 * the cgroup's limit, since the kernel's OOM killer acts on whichever is reached first. ggml's CPU device reports its
 * total as free, so this is read here.
 */
record HostMemory(long available, long total) {
    private static final Path MEMINFO = Path.of("/proc/meminfo");
    private static final Path CGROUP = Path.of("/sys/fs/cgroup");

    static HostMemory now() {
        OptionalLong available = meminfo("MemAvailable:");
        OptionalLong total = meminfo("MemTotal:");
        if (available.isEmpty() || total.isEmpty()) { // not Linux: the JVM's view (free excludes the page cache)
            var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
            return new HostMemory(os.getFreeMemorySize(), os.getTotalMemorySize());
        }
        long avail = available.getAsLong();
        long tot = total.getAsLong();
        OptionalLong limit = number(CGROUP.resolve("memory.max"));
        OptionalLong used = number(CGROUP.resolve("memory.current"));
        if (limit.isPresent() && used.isPresent() && limit.getAsLong() < tot) {
            long reclaimable = stat(CGROUP.resolve("memory.stat"), "inactive_file").orElse(0);
            avail = Math.min(avail, Math.max(0, limit.getAsLong() - used.getAsLong() + reclaimable));
            tot = limit.getAsLong();
        }
        return new HostMemory(avail, tot);
    }

    private static OptionalLong meminfo(String key) {
        OptionalLong kib = stat(MEMINFO, key);
        return kib.isPresent() ? OptionalLong.of(kib.getAsLong() * 1024) : kib;
    }

    /** The number after {@code key} on its line of a "key value" file, or empty. */
    private static OptionalLong stat(Path file, String key) {
        try {
            for (String line : Files.readAllLines(file)) {
                String[] fields = line.trim().split("\\s+");
                if (fields.length >= 2 && fields[0].equals(key)) {
                    return OptionalLong.of(Long.parseLong(fields[1]));
                }
            }
        } catch (IOException | NumberFormatException e) {
            return OptionalLong.empty();
        }
        return OptionalLong.empty();
    }

    /** A file holding one number ("max", as cgroup v2 writes no limit, gives empty). */
    private static OptionalLong number(Path file) {
        try {
            return OptionalLong.of(Long.parseLong(Files.readString(file).trim()));
        } catch (IOException | NumberFormatException e) {
            return OptionalLong.empty();
        }
    }
}
