package dev.qwenvl;

import dev.qwenvl.natives.GpuBackend;
import dev.qwenvl.natives.NativeLibraries;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import static dev.qwenvl.bindings.qwenvl_h.GGML_BACKEND_DEVICE_TYPE_ACCEL;
import static dev.qwenvl.bindings.qwenvl_h.GGML_BACKEND_DEVICE_TYPE_CPU;
import static dev.qwenvl.bindings.qwenvl_h.GGML_BACKEND_DEVICE_TYPE_GPU;
import static dev.qwenvl.bindings.qwenvl_h.GGML_BACKEND_DEVICE_TYPE_IGPU;
import static dev.qwenvl.bindings.qwenvl_h.GGML_TYPE_COUNT;
import static dev.qwenvl.bindings.qwenvl_h.ggml_backend_dev_backend_reg;
import static dev.qwenvl.bindings.qwenvl_h.ggml_backend_dev_count;
import static dev.qwenvl.bindings.qwenvl_h.ggml_backend_dev_description;
import static dev.qwenvl.bindings.qwenvl_h.ggml_backend_dev_get;
import static dev.qwenvl.bindings.qwenvl_h.ggml_backend_dev_memory;
import static dev.qwenvl.bindings.qwenvl_h.ggml_backend_dev_name;
import static dev.qwenvl.bindings.qwenvl_h.ggml_backend_dev_type;
import static dev.qwenvl.bindings.qwenvl_h.ggml_backend_reg_name;
import static dev.qwenvl.bindings.qwenvl_h.ggml_backend_load_all_from_path;
import static dev.qwenvl.bindings.qwenvl_h.ggml_blck_size;
import static dev.qwenvl.bindings.qwenvl_h.ggml_type_size;
import static dev.qwenvl.bindings.qwenvl_h.llama_backend_init;
import static dev.qwenvl.bindings.qwenvl_h.llama_log_set;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_helper_log_set;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/** Loads the native libraries, initialises llama.cpp's backends and its logging, once per JVM. */
final class NativeRuntime {
    private static final System.Logger LOG = System.getLogger("dev.qwenvl");
    private static int[][] ggmlTypes;
    private static Backends backends;

    private NativeRuntime() {
    }

    static synchronized void init() {
        if (ggmlTypes != null) {
            return;
        }
        Path dir;
        try {
            dir = NativeLibraries.load();
        } catch (dev.qwenvl.natives.NativeLibraryException e) {
            throw new NativeLibraryException(e.getMessage(), e);
        }
        MemorySegment log = NativeLog.callback();
        llama_log_set(log, MemorySegment.NULL);
        mtmd_helper_log_set(log, MemorySegment.NULL);
        if (NativeLibraries.hasBackendModules(dir)) {
            try (Arena arena = Arena.ofConfined()) {
                ggml_backend_load_all_from_path(arena.allocateFrom(dir.toString()));
            }
        }
        llama_backend_init();
        backends = registry(dir);
        backends.fallback().ifPresent(line -> LOG.log(System.Logger.Level.WARNING, line));
        int[][] types = new int[GGML_TYPE_COUNT()][];
        for (int t = 0; t < types.length; t++) {
            types[t] = new int[]{(int) ggml_blck_size(t), (int) ggml_type_size(t)};
        }
        ggmlTypes = types;
    }

    /** ggml's table of {block size, bytes per block} by type id, for checking GGUF tensor sizes in Java. */
    static synchronized int[][] ggmlTypes() {
        init();
        return ggmlTypes;
    }

    /** What the natives brought up (loading them first if need be). */
    static synchronized Backends backends() {
        init();
        return backends;
    }

    /** ggml's device registry, and the fallback line when a GPU module is shipped but brought up no device. */
    private static Backends registry(Path dir) {
        List<Backends.Device> devices = new ArrayList<>();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment free = arena.allocate(JAVA_LONG);
            MemorySegment total = arena.allocate(JAVA_LONG);
            for (long i = 0, n = ggml_backend_dev_count(); i < n; i++) {
                MemorySegment dev = ggml_backend_dev_get(i);
                total.set(JAVA_LONG, 0, 0);
                ggml_backend_dev_memory(dev, free, total);
                devices.add(new Backends.Device(text(ggml_backend_reg_name(ggml_backend_dev_backend_reg(dev))),
                        text(ggml_backend_dev_name(dev)), text(ggml_backend_dev_description(dev)),
                        kind(ggml_backend_dev_type(dev)), total.get(JAVA_LONG, 0)));
            }
        }
        Optional<GpuBackend> gpu = NativeLibraries.moduleFiles(dir).stream().map(GpuBackend::ofModule)
                .flatMap(Optional::stream).findFirst();
        Optional<String> fallback = gpu.filter(g -> devices.stream().noneMatch(d -> d.backend().equals(g.ggmlName())))
                .map(g -> "qwenvl: the natives in " + dir + " carry the " + g.suffix() + " backend, but it brought up"
                        + " no device (" + NativeLibraries.whyModuleFails(dir, g).orElse("no " + g.suffix()
                        + " device or driver for it on this machine") + "); running on the CPU");
        return new Backends(dir, devices, gpu, fallback);
    }

    private static Backends.Kind kind(int type) {
        if (type == GGML_BACKEND_DEVICE_TYPE_GPU()) {
            return Backends.Kind.GPU;
        } else if (type == GGML_BACKEND_DEVICE_TYPE_IGPU()) {
            return Backends.Kind.INTEGRATED_GPU;
        } else if (type == GGML_BACKEND_DEVICE_TYPE_ACCEL()) {
            return Backends.Kind.ACCELERATOR;
        } else if (type == GGML_BACKEND_DEVICE_TYPE_CPU()) {
            return Backends.Kind.CPU;
        }
        return Backends.Kind.META;
    }

    private static String text(MemorySegment cString) {
        return isNull(cString) ? "" : cString.reinterpret(Long.MAX_VALUE).getString(0);
    }

    static boolean isNull(MemorySegment p) {
        return p == null || p.address() == 0;
    }
}
