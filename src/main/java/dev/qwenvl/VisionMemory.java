package dev.qwenvl;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

import static dev.qwenvl.bindings.qwenvl_h.ggml_backend_dev_memory;
import static dev.qwenvl.bindings.qwenvl_h.ggml_backend_dev_name;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The check made before each image encode: libmtmd's compute buffers, sized at load for its warmup image, grow to fit
 * a larger image when it is encoded, by the measured buffers times {@link MemoryPlan#imageScale}; an image whose
 * growth would not fit the memory free on a device now is refused with an {@link ImageException} instead of
 * allocated until the kernel kills the process. The model owns one; its vision lock serializes the calls.
 */
final class VisionMemory {
    private final List<MemoryMeasurement.Part> parts;
    private final int warmupTokens;
    private final ModelOptions.FlashAttention flashAttention;
    private int grownTo; // the image tokens the buffers are sized for now; 0 before any (no warmup)

    private VisionMemory(List<MemoryMeasurement.Part> parts, int warmupTokens, ModelOptions options) {
        this.parts = parts;
        this.warmupTokens = warmupTokens;
        this.flashAttention = options.flashAttention();
        this.grownTo = options.warmup() ? warmupTokens : 0;
    }

    /** The check for a model loaded after {@code measured} (parts without vision buffers are left out). */
    static VisionMemory of(MemoryMeasurement measured, ModelOptions options) {
        return new VisionMemory(measured.parts().stream().filter(p -> p.visionCompute() > 0).toList(),
                measured.warmupTokens(), options);
    }

    /** No check: {@link ModelOptions#memoryCheck()} is off. */
    static VisionMemory unchecked() {
        return new VisionMemory(List.of(), 0, ModelOptions.defaults());
    }

    /**
     * Admits an image of {@code tokens} tokens for encoding, or refuses it when its buffers' growth would not fit.
     *
     * @param what the image, as the message names it
     * @throws ImageException naming the device, the sizes and the bound that would let the image in
     */
    void admit(int tokens, String what) {
        if (tokens <= grownTo || parts.isEmpty()) {
            return;
        }
        for (MemoryMeasurement.Part p : parts) {
            long growth = buffers(p, tokens) - (grownTo == 0 ? 0 : buffers(p, grownTo));
            long available = p.host() ? HostMemory.now().available() : free(p.device());
            long margin = p.host() ? MemoryPlan.HOST_MARGIN : MemoryPlan.DEVICE_MARGIN;
            if (growth + margin > available) {
                String device = p.host() ? "host memory" : ggml_backend_dev_name(p.device()).getString(0);
                throw new ImageException(what + " takes " + tokens + " tokens, for which the vision encoder's"
                        + " compute buffers need about " + MemoryPlan.bytes(buffers(p, tokens)) + " on " + device
                        + " (" + MemoryPlan.bytes(growth) + " more than now), but it has "
                        + MemoryPlan.bytes(available) + " available and keeps " + MemoryPlan.bytes(margin)
                        + " free; bound the tokens per image (--image-max-tokens, ModelOptions.withImageTokens)"
                        + (flashAttention == ModelOptions.FlashAttention.DISABLED
                        ? " or turn flash attention on (-fa on), which does not hold the attention scores" : "")
                        + ", or send a smaller image");
            }
        }
        grownTo = tokens;
    }

    private long buffers(MemoryMeasurement.Part p, int tokens) {
        return (long) Math.ceil(p.visionCompute() * MemoryPlan.imageScale(warmupTokens, tokens));
    }

    private static long free(MemorySegment device) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment free = arena.allocate(JAVA_LONG);
            MemorySegment total = arena.allocate(JAVA_LONG);
            ggml_backend_dev_memory(device, free, total);
            return free.get(JAVA_LONG, 0);
        }
    }
}
