package dev.qwenvl;

import dev.qwenvl.natives.NativeLibraries;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

import static dev.qwenvl.bindings.qwenvl_h.GGML_TYPE_COUNT;
import static dev.qwenvl.bindings.qwenvl_h.ggml_backend_load_all_from_path;
import static dev.qwenvl.bindings.qwenvl_h.ggml_blck_size;
import static dev.qwenvl.bindings.qwenvl_h.ggml_type_size;
import static dev.qwenvl.bindings.qwenvl_h.llama_backend_init;
import static dev.qwenvl.bindings.qwenvl_h.llama_log_set;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_helper_log_set;

/** Loads the native libraries, initialises llama.cpp's backends and its logging, once per JVM. */
final class NativeRuntime {
    private static int[][] ggmlTypes;

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

    static boolean isNull(MemorySegment p) {
        return p == null || p.address() == 0;
    }
}
