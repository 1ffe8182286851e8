package dev.qwenvl;

import dev.qwenvl.natives.GpuBackend;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * The ggml backends and devices this JVM's native libraries brought up, as ggml's device registry reports them, and
 * why a GPU build runs on the CPU when it does. llama.cpp puts a model's layers on the GPU devices when there are any
 * (integrated GPUs when there is no other), else on the CPU: {@link #inUse()} is that choice.
 *
 * @param directory the native directory the libraries were loaded from
 * @param devices   every registered device, in ggml's order
 * @param gpuBuilt  the GPU backend the natives carry, if any
 * @param fallback  the one log line said when the natives carry a GPU backend but it brought up no device
 */
public record Backends(Path directory, List<Device> devices, Optional<GpuBackend> gpuBuilt, Optional<String> fallback) {

    /** What kind of device ggml says it is ({@code ggml_backend_dev_type}). */
    public enum Kind { CPU, GPU, INTEGRATED_GPU, ACCELERATOR, META }

    /**
     * One ggml device.
     *
     * @param backend     the backend's registered name (CPU, CUDA, Vulkan, MTL, RPC)
     * @param name        the device's name (CPU, CUDA0, Vulkan0...)
     * @param description what the driver calls it (the CPU or GPU model)
     * @param memoryBytes total memory the device reports
     */
    public record Device(String backend, String name, String description, Kind kind, long memoryBytes) {
    }

    public Backends {
        devices = List.copyOf(devices);
    }

    /** Loads the natives if this JVM has not yet, and reports what they brought up. */
    public static Backends current() {
        return NativeRuntime.backends();
    }

    /** The devices a model's layers go to: the GPUs, else the integrated GPUs, else the CPU. */
    public List<Device> inUse() {
        for (Kind k : List.of(Kind.GPU, Kind.INTEGRATED_GPU)) {
            List<Device> of = devices.stream().filter(d -> d.kind() == k && !d.backend().equals("RPC")).toList();
            if (!of.isEmpty()) {
                return of;
            }
        }
        return devices.stream().filter(d -> d.kind() == Kind.CPU).toList();
    }

    /** One line: the backend in use and its devices, e.g. {@code Vulkan: Vulkan0 (NVIDIA H200, 140 GiB)}. */
    public String summary() {
        List<Device> used = inUse();
        String backend = used.isEmpty() ? "none" : used.getFirst().backend();
        return backend + ": " + used.stream().map(d -> d.name() + " (" + d.description()
                + (d.memoryBytes() > 0 ? ", " + (d.memoryBytes() >> 20) + " MiB" : "") + ")")
                .collect(Collectors.joining(", "));
    }
}
