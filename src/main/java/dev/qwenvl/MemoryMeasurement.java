package dev.qwenvl;

import dev.qwenvl.bindings.qwenvl_memory_row;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static dev.qwenvl.bindings.qwenvl_h.qwenvl_fit_mmproj;
import static dev.qwenvl.bindings.qwenvl_h.qwenvl_fit_text;

/**
 * What llama.cpp and libmtmd measure for one load through the shim's no-alloc loads: per device, the text model's
 * weights, one context's KV cache and compute buffers (the shared context of all sequences when
 * {@link ModelOptions#parallelSequences()} is above 1, as {@link SharedContext} creates it), the mmproj's weights and
 * its compute buffers for libmtmd's warmup image.
 *
 * <p>Kept per JVM for the same files (path, size, modification time) and options when every part is host memory, so
 * repeated loads pay the two no-alloc loads once; a plan touching a GPU or RPC device measures afresh, since its
 * free memory is read by the same call.
 *
 * @param parts        one per device, in llama.cpp's order
 * @param warmupTokens the tokens of libmtmd's warmup image, which the vision compute was measured at
 * @param boundTokens  the most tokens one image may take under the options' bounds
 */
record MemoryMeasurement(List<Part> parts, int warmupTokens, int boundTokens) {
    private static final int MAX_ROWS = 64;
    private static final int ERR_LEN = 1024;
    private static final int CACHED = 32;
    private static final Map<Key, MemoryMeasurement> CACHE = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Key, MemoryMeasurement> eldest) {
            return size() > CACHED;
        }
    };

    /** One device's measured bytes; {@code free} and {@code total} as the device reported them then. */
    record Part(MemorySegment device, long free, long total, long weights, long kvCache, long compute,
                long mmprojWeights, long visionCompute) {
        boolean host() {
            return device.address() == 0;
        }
    }

    private record Key(Path text, long textSize, FileTime textModified, Path vision, long visionSize,
                       FileTime visionModified, ModelOptions options) {
    }

    /**
     * The measurement for files that passed {@link ModelFiles}' checks. One at a time: common_get_device_memory_data
     * swaps llama.cpp's global logger while it runs.
     */
    static synchronized MemoryMeasurement of(Path text, Path vision, ModelOptions options) {
        Key key;
        try {
            key = new Key(text, Files.size(text), Files.getLastModifiedTime(text), vision, Files.size(vision),
                    Files.getLastModifiedTime(vision), options);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the size of " + text + " or " + vision, e);
        }
        MemoryMeasurement cached = CACHE.get(key);
        if (cached != null) {
            return cached;
        }
        MemoryMeasurement m = measure(text, vision, options);
        if (m.parts().stream().allMatch(Part::host)) {
            CACHE.put(key, m);
        }
        return m;
    }

    private static MemoryMeasurement measure(Path text, Path vision, ModelOptions options) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment rows = qwenvl_memory_row.allocateArray(MAX_ROWS, arena);
            MemorySegment err = arena.allocate(ERR_LEN);
            NativeLog.drainRecent();
            MemorySegment context = options.parallelSequences() > 1 ? SharedContext.params(arena, options)
                    : ContextHandle.params(arena, options);
            int n = qwenvl_fit_text(arena.allocateFrom(text.toString()),
                    VisionLanguageModel.modelParams(arena, options), context, rows, MAX_ROWS, err, ERR_LEN);
            if (n < 0 || n > MAX_ROWS) {
                throw new ModelLoadException(NativeLog.withRecent("llama.cpp could not measure " + text + ": "
                        + err.getString(0)));
            }
            Map<Long, Sums> byDevice = new LinkedHashMap<>();
            for (int i = 0; i < n; i++) {
                MemorySegment r = qwenvl_memory_row.asSlice(rows, i);
                Sums s = byDevice.computeIfAbsent(qwenvl_memory_row.device(r).address(), a -> new Sums(r));
                s.weights += qwenvl_memory_row.model(r);
                s.kvCache += qwenvl_memory_row.context(r);
                s.compute += qwenvl_memory_row.compute(r);
            }
            MemorySegment warmup = arena.allocate(ValueLayout.JAVA_INT);
            MemorySegment minTokens = arena.allocate(ValueLayout.JAVA_INT);
            MemorySegment maxTokens = arena.allocate(ValueLayout.JAVA_INT);
            int m = qwenvl_fit_mmproj(arena.allocateFrom(vision.toString()),
                    VisionLanguageModel.visionParams(arena, options), rows, MAX_ROWS, warmup, minTokens, maxTokens,
                    err, ERR_LEN);
            if (m < 0 || m > MAX_ROWS) {
                throw new ModelLoadException(NativeLog.withRecent("libmtmd could not measure the mmproj " + vision
                        + ": " + err.getString(0)));
            }
            for (int i = 0; i < m; i++) {
                MemorySegment r = qwenvl_memory_row.asSlice(rows, i);
                Sums s = byDevice.computeIfAbsent(qwenvl_memory_row.device(r).address(), a -> new Sums(r));
                s.mmprojWeights += qwenvl_memory_row.model(r);
                s.visionCompute += qwenvl_memory_row.compute(r);
            }
            NativeLog.drainRecent(); // the no-alloc loads' warnings explain nothing later
            List<Part> parts = new ArrayList<>();
            byDevice.values().forEach(s -> parts.add(s.part()));
            return new MemoryMeasurement(List.copyOf(parts), warmup.get(ValueLayout.JAVA_INT, 0),
                    maxTokens.get(ValueLayout.JAVA_INT, 0));
        }
    }

    /** One device's sums while the rows are read. */
    private static final class Sums {
        final MemorySegment device;
        final long free;
        final long total;
        long weights;
        long kvCache;
        long compute;
        long mmprojWeights;
        long visionCompute;

        Sums(MemorySegment r) {
            device = qwenvl_memory_row.device(r);
            free = qwenvl_memory_row.free(r);
            total = qwenvl_memory_row.total(r);
        }

        Part part() {
            return new Part(device, free, total, weights, kvCache, compute, mmprojWeights, visionCompute);
        }
    }
}
