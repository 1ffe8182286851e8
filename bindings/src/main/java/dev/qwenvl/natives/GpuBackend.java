package dev.qwenvl.natives;

import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * The GPU backends a natives jar may carry (classifier {@code <platform>-<suffix>}), in the order the loader prefers
 * them, with the driver library each needs at run time: ggml's module for it would fail to load without it.
 */
public enum GpuBackend {
    CUDA("cuda", "CUDA", List.of("libcuda.so.1", "nvcuda.dll")),
    METAL("metal", "MTL", List.of("/System/Library/Frameworks/Metal.framework/Metal")),
    VULKAN("vulkan", "Vulkan", List.of("libvulkan.so.1", "libvulkan.1.dylib", "vulkan-1.dll"));

    private final String suffix;
    private final String ggmlName;
    private final List<String> drivers;

    GpuBackend(String suffix, String ggmlName, List<String> drivers) {
        this.suffix = suffix;
        this.ggmlName = ggmlName;
        this.drivers = drivers;
    }

    /** The classifier suffix and the backend's file name in ggml: {@code cuda}, {@code metal}, {@code vulkan}. */
    public String suffix() {
        return suffix;
    }

    /** The name ggml registers the backend under ({@code ggml_backend_reg_name}): CUDA, MTL, Vulkan. */
    public String ggmlName() {
        return ggmlName;
    }

    /** The backend whose module file natives.list names ({@code libggml-vulkan.so}...), if any. */
    public static Optional<GpuBackend> ofModule(String fileName) {
        String f = fileName.toLowerCase(Locale.ROOT);
        for (GpuBackend b : values()) {
            if (f.startsWith("libggml-" + b.suffix + ".") || f.startsWith("ggml-" + b.suffix + ".")) {
                return Optional.of(b);
            }
        }
        return Optional.empty();
    }

    /** Why this machine cannot run the backend (its driver library does not load), or empty if it can. */
    Optional<String> missingDriver() {
        StringBuilder why = new StringBuilder();
        for (String lib : drivers) {
            try (Arena arena = Arena.ofConfined()) {
                SymbolLookup.libraryLookup(lib, arena);
                return Optional.empty();
            } catch (IllegalArgumentException e) {
                why.append(why.isEmpty() ? "" : ", ").append(lib);
            }
        }
        return Optional.of("its driver library (" + why + ") cannot be loaded");
    }
}
