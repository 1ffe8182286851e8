package dev.qwenvl.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;

/**
 * The peak resident set (VmHWM, mapped weights included) of the child processes this JVM starts while one run lasts
 * (children already running, such as rpc-servers, are left out), polled from /proc every 50 ms: VmHWM only grows,
 * so the last reading before the child exits is its peak to within the final 50 ms. Linux only; elsewhere 0.
 */
final class PeakRss implements AutoCloseable {
    private static final long POLL_MS = 50;
    private final AtomicLong peakKb = new AtomicLong();
    private final Thread poller;
    private volatile boolean running = true;

    PeakRss() {
        Set<Long> before = ProcessHandle.current().children().map(ProcessHandle::pid).collect(Collectors.toSet());
        poller = Thread.ofPlatform().daemon().name("peak-rss").start(() -> {
            while (running) {
                ProcessHandle.current().children().filter(c -> !before.contains(c.pid()))
                        .forEach(c -> peakKb.accumulateAndGet(hwmKb(c.pid()), Math::max));
                try {
                    Thread.sleep(POLL_MS);
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
    }

    /** The highest VmHWM seen, in bytes. */
    long peakBytes() {
        return peakKb.get() * 1024;
    }

    private static long hwmKb(long pid) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
                if (line.startsWith("VmHWM:")) {
                    return Long.parseLong(line.substring(6).replace("kB", "").strip());
                }
            }
        } catch (IOException | RuntimeException e) {
            return 0; // the child has just exited, or this is not Linux
        }
        return 0;
    }

    @Override
    public void close() {
        running = false;
        poller.interrupt();
        try {
            poller.join(1000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
