package dev.qwenvl;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

import static dev.qwenvl.bindings.qwenvl_h.ggml_backend_dev_description;
import static dev.qwenvl.bindings.qwenvl_h.ggml_backend_dev_name;

/**
 * What loading a model pair will need, per device, and what each device has, known before anything is allocated.
 * llama.cpp measures its own parts: the text model's weights, one context's KV cache and compute buffers
 * ({@code common_get_device_memory_data}, the no-alloc load of {@code llama-fit-params}), and the mmproj's weights and
 * vision compute buffers ({@code mtmd_get_memory_usage}), once per JVM for the same files and options
 * ({@link MemoryMeasurement}). This adds what they leave out: several conversations (each has its own context, or
 * with parallel sequences all share the one measured context of that many sequences), and the vision encoder's
 * buffers at the largest image the token bounds allow, where libmtmd measures a fixed warmup image.
 *
 * <p>A load is planned, as llama-mtmd-cli allocates it, with the vision buffers of the warmup image; they grow when a
 * larger image is encoded. The plan shows how far ({@link Device#largestImageCompute()}), and each image is checked
 * against the memory free then, before it is encoded: one that would not fit is refused with an
 * {@link ImageException} (without flash attention a 4096-token image needs some 17 GiB on a 3B's encoder, where
 * llama.cpp would allocate until the kernel kills the process).
 *
 * <pre>{@code
 * MemoryPlan plan = MemoryPlan.of(model, mmproj, ModelOptions.defaults().withContextSize(32768));
 * if (!plan.fits()) System.err.println(plan);   // per device: needed, available, and what would make it fit
 * }</pre>
 *
 * <p>{@link VisionLanguageModel#load} makes this plan first and refuses a load that does not fit with an
 * {@link InsufficientMemoryException} (unless {@link ModelOptions#memoryCheck()} is off).
 */
public final class MemoryPlan {
    /** Left free on each GPU, as llama.cpp's own fit does (common's {@code --fit-target} default). */
    static final long DEVICE_MARGIN = 1L << 30;
    /** Left free in host memory for the JVM and the allocators' slack. */
    static final long HOST_MARGIN = 512L << 20;
    private static final int CONTEXT_STEP = 256;

    /**
     * One device's share of the load (the host is one device: every host buffer, whatever its type).
     *
     * @param name          ggml's device name ({@code CUDA0}, {@code RPC0}...), or {@code host}
     * @param description   what the device is
     * @param available     bytes free now (host: MemAvailable, capped by the cgroup limit)
     * @param total         bytes in all
     * @param weights       the text model's weights on this device
     * @param kvCache       the KV cache of all the conversations planned
     * @param compute       the text model's compute buffers of all the conversations planned
     * @param mmprojWeights the vision encoder's weights
     * @param visionCompute the vision encoder's compute buffers as the load allocates them, for libmtmd's warmup
     *                      image
     * @param largestImageCompute the vision encoder's compute buffers once they have grown for the largest image
     *                      the token bounds allow (at least {@code visionCompute})
     * @param caches        the bounds of the model's image-embedding and prefix caches (host only)
     */
    public record Device(String name, String description, long available, long total, long weights, long kvCache,
                         long compute, long mmprojWeights, long visionCompute, long largestImageCompute,
                         long caches) {
        /** Whether this is host memory. */
        public boolean host() {
            return name.equals("host");
        }

        /** Everything this device holds once the model is loaded and the conversations are open. */
        public long needed() {
            return weights + kvCache + compute + mmprojWeights + visionCompute + caches;
        }

        /** What {@link #needed()} grows to once an image as large as the token bounds allow has been encoded. */
        public long neededWithLargestImage() {
            return needed() - visionCompute + largestImageCompute;
        }

        /** What is left free on top of {@link #needed()} for the device to count as fitting. */
        public long margin() {
            return host() ? HOST_MARGIN : DEVICE_MARGIN;
        }

        /** Whether {@link #needed()} plus {@link #margin()} is within {@link #available()}. */
        public boolean fits() {
            return needed() + margin() <= available;
        }

        /** Whether {@link #neededWithLargestImage()} plus {@link #margin()} is within {@link #available()}. */
        public boolean fitsLargestImage() {
            return neededWithLargestImage() + margin() <= available;
        }
    }

    private final Path model;
    private final Path mmproj;
    private final ModelOptions options;
    private final int conversations;
    private final long contextSize;
    private final int imageMaxTokens;
    private final int warmupImageTokens;
    private final List<Device> devices;

    private MemoryPlan(Path model, Path mmproj, ModelOptions options, int conversations, long contextSize,
                       int imageMaxTokens, int warmupImageTokens, List<Device> devices) {
        this.model = model;
        this.mmproj = mmproj;
        this.options = options;
        this.conversations = conversations;
        this.contextSize = contextSize;
        this.imageMaxTokens = imageMaxTokens;
        this.warmupImageTokens = warmupImageTokens;
        this.devices = List.copyOf(devices);
    }

    /** The plan for loading the pair with options and opening one conversation. */
    public static MemoryPlan of(Path model, Path mmproj, ModelOptions options) {
        return of(model, mmproj, options, 1);
    }

    /**
     * The plan for loading the pair with options and holding {@code conversations} conversations open at once: a
     * context each, or with {@link ModelOptions#parallelSequences()} above 1 the one shared context of that many
     * sequences, whatever {@code conversations} says (no more can be open at once).
     *
     * @throws InvalidModelException if a file is missing, damaged, or the two do not belong together
     * @throws ModelLoadException    if llama.cpp cannot read them even without allocating
     */
    public static MemoryPlan of(Path model, Path mmproj, ModelOptions options, int conversations) {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(mmproj, "mmproj");
        Objects.requireNonNull(options, "options");
        if (conversations < 1) {
            throw new IllegalArgumentException("conversations must be at least 1, got " + conversations);
        }
        Path text = model.toAbsolutePath();
        Path vision = mmproj.toAbsolutePath();
        NativeRuntime.init();
        GgufMetadata meta = ModelFiles.checkText(text);
        ModelFiles.checkMmproj(vision, meta.requireUnsigned("qwen2vl.embedding_length"));
        return measure(text, vision, meta, options, conversations);
    }

    /**
     * The plan for files that passed {@link ModelFiles}' checks ({@code meta} is the text model's). With parallel
     * sequences the conversations share one measured context; otherwise each has its own.
     */
    static MemoryPlan measure(Path text, Path vision, GgufMetadata meta, ModelOptions options, int conversations) {
        return measure(text, vision, meta, options, conversations, MemoryMeasurement.of(text, vision, options));
    }

    /** The plan from a measurement already taken. */
    static MemoryPlan measure(Path text, Path vision, GgufMetadata meta, ModelOptions options, int conversations,
                              MemoryMeasurement m) {
        long contextSize = options.contextSize() > 0 ? options.contextSize()
                : meta.requireUnsigned("qwen2vl.context_length");
        int contexts = options.parallelSequences() > 1 ? 1 : conversations;
        double imageScale = imageScale(m.warmupTokens(), m.boundTokens());
        HostMemory host = HostMemory.now();
        long caches = options.imageCacheBytes() + options.prefixCacheBytes();
        List<Device> devices = new ArrayList<>();
        for (MemoryMeasurement.Part p : m.parts()) {
            long largestImage = (long) Math.ceil(p.visionCompute() * imageScale);
            devices.add(p.host()
                    ? new Device("host", "host memory (RAM)", host.available(), host.total(), p.weights(),
                            p.kvCache() * contexts, p.compute() * contexts, p.mmprojWeights(), p.visionCompute(),
                            largestImage, caches)
                    : new Device(ggml_backend_dev_name(p.device()).getString(0),
                            ggml_backend_dev_description(p.device()).getString(0), p.free(), p.total(), p.weights(),
                            p.kvCache() * contexts, p.compute() * contexts, p.mmprojWeights(), p.visionCompute(),
                            largestImage, 0));
        }
        devices.sort((x, y) -> Boolean.compare(x.host(), y.host())); // host last
        return new MemoryPlan(text, vision, options, conversations, contextSize, m.boundTokens(), m.warmupTokens(),
                devices);
    }

    /**
     * How much more the vision encoder's compute buffers take for the largest image than for libmtmd's warmup
     * image: the square of the ratio of their patches, since the attention mask (and, without flash attention, the
     * attention scores) holds one value per pair of patches. Measured: the tiny pair's 4096-token image peaks at
     * about this, where the patches' plain ratio would say half.
     */
    static double imageScale(int warmupTokens, int boundTokens) {
        if (warmupTokens <= 0 || boundTokens <= warmupTokens) {
            return 1;
        }
        double ratio = (double) boundTokens / warmupTokens;
        return ratio * ratio;
    }

    /** The text model's file. */
    public Path model() {
        return model;
    }

    /** The mmproj's file. */
    public Path mmproj() {
        return mmproj;
    }

    /** The options the plan is for. */
    public ModelOptions options() {
        return options;
    }

    /** How many conversations (contexts) the plan holds open at once. */
    public int conversations() {
        return conversations;
    }

    /** Tokens of context per conversation (the model's trained length when the options say 0). */
    public long contextSize() {
        return contextSize;
    }

    /** The most tokens one image may take (what {@link Device#largestImageCompute()} is planned for). */
    public int imageMaxTokens() {
        return imageMaxTokens;
    }

    /** The tokens of libmtmd's warmup image, at which it measures the vision encoder's compute buffers. */
    public int warmupImageTokens() {
        return warmupImageTokens;
    }

    /** Each device the load uses, host memory last. */
    public List<Device> devices() {
        return devices;
    }

    /** Bytes needed on all devices together. */
    public long needed() {
        return devices.stream().mapToLong(Device::needed).sum();
    }

    /** Whether every device fits. */
    public boolean fits() {
        return devices.stream().allMatch(Device::fits);
    }

    /**
     * What would make the devices that do not fit fit, and for a device that fits the load but not the largest image,
     * which images it will refuse and what would let them in; empty when all fit with the largest image.
     */
    public List<String> remedies() {
        List<String> remedies = new ArrayList<>();
        for (Device d : devices) {
            if (d.fits() && !d.fitsLargestImage()) {
                long room = d.available() - d.margin() - d.needed() + d.visionCompute();
                int tokens = tokensFitting(room, d.visionCompute());
                remedies.add(d.name() + ": images above about " + tokens + " tokens will be refused when they come,"
                        + " their vision buffers (" + bytes(d.largestImageCompute()) + " at " + imageMaxTokens
                        + " tokens) not fitting; bound them (--image-max-tokens " + tokens
                        + ", ModelOptions.withImageTokens)"
                        + (options.flashAttention() == ModelOptions.FlashAttention.DISABLED
                        ? " or turn flash attention on (-fa on), which does not hold the attention scores" : ""));
            }
            if (d.fits()) {
                continue;
            }
            // the KV cache and (through the attention mask) the compute buffers grow with the context
            long room = d.available() - d.margin() - d.weights() - d.mmprojWeights() - d.visionCompute()
                    - d.caches();
            double perToken = (d.kvCache() + d.compute()) / (double) Math.max(1, contextSize * conversations);
            long fittingContext = perToken > 0 && room > 0 ? (long) (room / perToken / conversations) : 0;
            fittingContext -= fittingContext % CONTEXT_STEP;
            String where = d.name() + ": ";
            if (fittingContext >= CONTEXT_STEP && fittingContext < contextSize) {
                remedies.add(where + "a smaller context: about " + fittingContext + " tokens fit (-c "
                        + fittingContext + ", ModelOptions.withContextSize)");
            }
            if (conversations > 1) {
                remedies.add(where + "fewer conversations open at once");
            }
            if (!d.host() && d.weights() > 0) {
                remedies.add(where + "fewer text-model layers on it (-ngl, ModelOptions.withGpuLayers)");
            }
            if (!d.host() && d.mmprojWeights() > 0) {
                remedies.add(where + "the vision encoder on the CPU (--no-mmproj-offload,"
                        + " ModelOptions.withMmprojOnGpu(false))");
            }
            // libmtmd sizes the load's vision buffers by its fixed warmup image: a token bound does not shrink them
            if (d.visionCompute() > d.available() / 8
                    && options.flashAttention() == ModelOptions.FlashAttention.DISABLED) {
                remedies.add(where + "flash attention on (-fa on, ModelOptions.withFlashAttention): the vision"
                        + " encoder's buffers then hold no attention scores");
            }
            if (d.caches() > 0) {
                remedies.add(where + "smaller caches (" + bytes(d.caches()) + " now: ModelOptions.withImageCacheBytes,"
                        + " withPrefixCacheBytes)");
            }
            if (d.weights() + d.mmprojWeights() + d.margin() > d.available()) {
                remedies.add(where + "a smaller quantization of the model (the weights alone take "
                        + bytes(d.weights() + d.mmprojWeights()) + ")");
            }
            if (remedies.stream().noneMatch(r -> r.startsWith(where))) {
                remedies.add(where + "free " + bytes(d.needed() + d.margin() - d.available()) + " of its memory");
            }
        }
        return remedies;
    }

    /** The most image tokens whose vision buffers, scaled from the warmup image's, fit in {@code room} bytes. */
    private int tokensFitting(long room, long warmupCompute) {
        if (warmupCompute <= 0 || room >= warmupCompute * imageScale(warmupImageTokens, imageMaxTokens)) {
            return imageMaxTokens;
        }
        return Math.max(warmupImageTokens, (int) (warmupImageTokens * Math.sqrt(room / (double) warmupCompute)));
    }

    /** One line per device that does not fit: what it needs, part by part, and what it has. */
    String shortfall() {
        StringBuilder s = new StringBuilder();
        for (Device d : devices) {
            if (!d.fits()) {
                s.append(s.isEmpty() ? "" : "; ").append(d.name()).append(" needs ").append(bytes(d.needed()))
                        .append(" (weights ").append(bytes(d.weights())).append(", KV cache ")
                        .append(bytes(d.kvCache())).append(", compute ").append(bytes(d.compute()))
                        .append(", mmproj ").append(bytes(d.mmprojWeights())).append(", vision compute ")
                        .append(bytes(d.visionCompute())).append(", caches ").append(bytes(d.caches()))
                        .append(") + ").append(bytes(d.margin()))
                        .append(" margin, but has ").append(bytes(d.available())).append(" available");
            }
        }
        return s.toString();
    }

    /** The plan as a table, one row per device, with the remedies when it does not fit. */
    @Override
    public String toString() {
        StringBuilder s = new StringBuilder();
        s.append(String.format(Locale.ROOT, "memory plan: %s + %s%n", model.getFileName(), mmproj.getFileName()));
        s.append(String.format(Locale.ROOT, "  context %d tokens x %d conversation%s; images up to %d tokens"
                        + " (vision: libmtmd's warmup image of %d; largest img: needed with one of the most)%n",
                contextSize, conversations,
                conversations == 1 ? "" : "s", imageMaxTokens, warmupImageTokens));
        String format = "  %-8s %11s %11s %11s %11s %11s %11s %11s %11s %11s  %s%n";
        s.append(String.format(Locale.ROOT, format, "device", "weights", "KV cache", "compute", "mmproj",
                "vision", "caches", "needed", "largest img", "available", "fits"));
        for (Device d : devices) {
            s.append(String.format(Locale.ROOT, format, d.name(), bytes(d.weights()), bytes(d.kvCache()),
                    bytes(d.compute()), bytes(d.mmprojWeights()), bytes(d.visionCompute()), bytes(d.caches()),
                    bytes(d.needed()), bytes(d.neededWithLargestImage()), bytes(d.available()),
                    !d.fits() ? "no (keeps " + bytes(d.margin()) + " free)"
                            : d.fitsLargestImage() ? "yes" : "yes, not its largest images"));
        }
        for (String r : remedies()) {
            s.append("  to fit, ").append(r).append(System.lineSeparator());
        }
        return s.toString();
    }

    static String bytes(long n) {
        return n >= 1L << 30 ? String.format(Locale.ROOT, "%.2f GiB", n / (double) (1L << 30))
                : String.format(Locale.ROOT, "%.1f MiB", n / (double) (1L << 20));
    }
}
