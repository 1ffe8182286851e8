package dev.qwenvl;

import java.time.Duration;
import java.util.List;

/**
 * How to load a model and its mmproj, and how to size each conversation's context. Immutable; start from
 * {@link #defaults()} and change what you need with the {@code with...} methods:
 *
 * <pre>{@code
 * ModelOptions options = ModelOptions.defaults().withThreads(4).withContextSize(8192);
 * }</pre>
 *
 * @param threads         CPU threads for generation
 * @param batchThreads    CPU threads for prompt and image evaluation
 * @param gpuLayers       text-model layers to offload to a GPU backend; -1 for all (ignored by a CPU-only build)
 * @param mainGpu         the GPU that holds the model when it is not split
 * @param contextSize     tokens of context per conversation; 0 for the model's trained length
 * @param batchSize       logical batch size for prompt evaluation (llama.cpp's n_batch)
 * @param microBatchSize  physical batch size (llama.cpp's n_ubatch)
 * @param flashAttention  flash attention in the text model and the vision encoder; {@link FlashAttention#DISABLED}
 *                        gives the same output for every thread count
 * @param mmprojOnGpu     run the vision encoder on the GPU backend when there is one
 * @param imageMinTokens  lower bound on tokens per image; 0 for the model's default
 * @param imageMaxTokens  upper bound on tokens per image; 0 for the model's default
 * @param loadMode        how llama.cpp reads the weights (mmap, mlock, direct I/O); AUTO lets it choose
 * @param warmup          size the vision encoder's buffers at load and decode [BOS, EOS] once in each new
 *                        conversation, as llama-mtmd-cli does (pages the weights in; changes no output)
 * @param progress        called while the text model loads, or null
 * @param imageCacheBytes bound on the model's image-embedding cache, shared by its conversations: an image seen
 *                        before (same pixels) skips the vision encoder; 0 turns the cache off
 * @param parallelSequences conversations whose tokens are decoded together: above 1, the model's conversations
 *                        share one llama.cpp context of this many sequences (each {@code contextSize} tokens), and
 *                        each step decodes every generating conversation's next token in one batch; at most this
 *                        many conversations may be open at once. 1 (the default) gives each conversation a context of
 *                        its own, as llama-mtmd-cli has
 * @param prefixCacheBytes bound on the model's prefix cache: the KV cells of closed conversations, which a new
 *                        conversation that begins the same way takes over instead of computing; 0 turns it off
 * @param memoryCheck     make a {@link MemoryPlan} before loading and refuse, with an
 *                        {@link InsufficientMemoryException}, a load that would not fit the machine's memory
 * @param rpcServers      rpc-servers whose devices take a share of the text model's layers, as llama.cpp's
 *                        {@code --rpc}; empty for none. Never expose an rpc-server beyond a network you trust
 * @param repack          let llama.cpp's CPU backend move weights into its extra buffer types (repacked for wider
 *                        instructions, or AMX tiles), as it does by default; off (llama.cpp's {@code --no-repack})
 *                        leaves every weight in the mapped file: no anonymous second copy, somewhat slower matrix
 *                        products, and no AMX (which some virtual machines advertise but fault on)
 * @param rpcReplyTimeout how long to wait for an rpc-server's reply (a compute, a transfer) before its connection
 *                        counts as lost and the decode fails with a {@link GenerationException} naming it, instead of
 *                        hanging on a server that stopped; {@link Duration#ZERO} waits forever, as llama.cpp does.
 *                        Default 5 minutes: set it above the slowest step a server of yours takes
 */
public record ModelOptions(int threads, int batchThreads, int gpuLayers, int mainGpu, int contextSize, int batchSize,
                           int microBatchSize, FlashAttention flashAttention, boolean mmprojOnGpu, int imageMinTokens,
                           int imageMaxTokens, LoadMode loadMode, boolean warmup,
                           LoadProgressListener progress, long imageCacheBytes, long prefixCacheBytes,
                           int parallelSequences, boolean memoryCheck, List<RpcServer> rpcServers,
                           boolean repack, Duration rpcReplyTimeout) {

    private static final int MAX_THREADS = 512; // GGML_MAX_N_THREADS: ggml sizes its thread arrays by it
    private static final int MAX_SEQUENCES = 256; // LLAMA_MAX_SEQ: llama.cpp refuses more

    /** Flash attention mode, as llama.cpp's {@code -fa auto|on|off}. */
    public enum FlashAttention { AUTO, ENABLED, DISABLED }

    /** How the weights are read, as llama.cpp's {@code llama_load_mode}. */
    public enum LoadMode { AUTO, READ, MMAP, MLOCK, MMAP_MLOCK, DIRECT_IO }

    /** Receives the text model's load progress; return false to abandon the load. */
    @FunctionalInterface
    public interface LoadProgressListener {
        boolean onProgress(float fraction);
    }

    public ModelOptions {
        requireAtLeast("threads", threads, 1);
        requireAtLeast("batchThreads", batchThreads, 1);
        if (Math.max(threads, batchThreads) > MAX_THREADS) {
            throw new IllegalArgumentException("threads must be at most " + MAX_THREADS + " (ggml's limit), got "
                    + Math.max(threads, batchThreads));
        }
        requireAtLeast("gpuLayers", gpuLayers, -1);
        requireAtLeast("mainGpu", mainGpu, 0);
        requireAtLeast("contextSize", contextSize, 0);
        requireAtLeast("batchSize", batchSize, 1);
        requireAtLeast("microBatchSize", microBatchSize, 1);
        requireAtLeast("imageMinTokens", imageMinTokens, 0);
        requireAtLeast("imageMaxTokens", imageMaxTokens, 0);
        if (parallelSequences < 1 || parallelSequences > MAX_SEQUENCES) {
            throw new IllegalArgumentException("parallelSequences must be between 1 and " + MAX_SEQUENCES + ", got "
                    + parallelSequences);
        }
        if (imageCacheBytes < 0 || prefixCacheBytes < 0) {
            throw new IllegalArgumentException("cache bounds must be 0 (off) or more, got " + imageCacheBytes
                    + " and " + prefixCacheBytes);
        }
        if (imageMaxTokens > 0 && imageMinTokens > imageMaxTokens) {
            throw new IllegalArgumentException("imageMinTokens " + imageMinTokens + " exceeds imageMaxTokens "
                    + imageMaxTokens);
        }
        if (loadMode == null) {
            throw new IllegalArgumentException("loadMode must not be null; use LoadMode.AUTO");
        }
        if (flashAttention == null) {
            throw new IllegalArgumentException("flashAttention must not be null; use FlashAttention.AUTO");
        }
        if (rpcServers == null || rpcServers.stream().anyMatch(java.util.Objects::isNull)) {
            throw new IllegalArgumentException("rpcServers must be a list of servers, empty for none");
        }
        rpcServers = List.copyOf(rpcServers);
        if (rpcReplyTimeout == null || rpcReplyTimeout.isNegative()
                || rpcReplyTimeout.compareTo(Duration.ofMillis(Integer.MAX_VALUE)) > 0) {
            throw new IllegalArgumentException("rpcReplyTimeout must be between 0 (wait forever) and "
                    + Integer.MAX_VALUE + " ms, got " + rpcReplyTimeout);
        }
    }

    /**
     * llama-mtmd-cli's defaults, except the context: 4096 tokens rather than the model's full trained length, which
     * for Qwen2.5-VL would reserve gigabytes of KV cache.
     */
    public static ModelOptions defaults() {
        int cores = Runtime.getRuntime().availableProcessors();
        int threads = cores > 4 ? cores / 2 : cores; // physical cores, roughly, like llama.cpp's cpu_get_num_math
        return new ModelOptions(threads, threads, -1, 0, 4096, 2048, 512, FlashAttention.AUTO, true, 0, 0,
                LoadMode.AUTO, true, null, 256L << 20, 256L << 20, 1, true, List.of(), true,
                Duration.ofMinutes(5));
    }

    public ModelOptions withThreads(int n) {
        return copy(b -> {
            b.threads = n;
            b.batchThreads = n;
        });
    }

    public ModelOptions withGpuLayers(int n) {
        return copy(b -> b.gpuLayers = n);
    }

    public ModelOptions withMainGpu(int gpu) {
        return copy(b -> b.mainGpu = gpu);
    }

    public ModelOptions withContextSize(int n) {
        return copy(b -> b.contextSize = n);
    }

    public ModelOptions withBatchSizes(int batch, int microBatch) {
        return copy(b -> {
            b.batchSize = batch;
            b.microBatchSize = microBatch;
        });
    }

    public ModelOptions withFlashAttention(FlashAttention mode) {
        return copy(b -> b.flashAttention = mode);
    }

    public ModelOptions withMmprojOnGpu(boolean onGpu) {
        return copy(b -> b.mmprojOnGpu = onGpu);
    }

    public ModelOptions withImageTokens(int min, int max) {
        return copy(b -> {
            b.imageMinTokens = min;
            b.imageMaxTokens = max;
        });
    }

    public ModelOptions withLoadMode(LoadMode mode) {
        return copy(b -> b.loadMode = mode);
    }

    public ModelOptions withWarmup(boolean on) {
        return copy(b -> b.warmup = on);
    }

    public ModelOptions withProgress(LoadProgressListener listener) {
        return copy(b -> b.progress = listener);
    }

    /** Conversations decoded together in one shared context (default 1: each its own context). */
    public ModelOptions withParallelSequences(int n) {
        return copy(b -> b.parallelSequences = n);
    }

    /** The prefix cache's bound in bytes (default 256 MiB); 0 turns it off. */
    public ModelOptions withPrefixCacheBytes(long max) {
        return copy(b -> b.prefixCacheBytes = max);
    }

    /** The image-embedding cache's bound in bytes (default 256 MiB); 0 turns it off. */
    public ModelOptions withImageCacheBytes(long max) {
        return copy(b -> b.imageCacheBytes = max);
    }

    /** Whether to check the load against a {@link MemoryPlan} first; off loads whatever the plan says. */
    public ModelOptions withMemoryCheck(boolean on) {
        return copy(b -> b.memoryCheck = on);
    }

    /** Spreads the text model's layers over these rpc-servers' devices too (llama.cpp's {@code --rpc}). */
    public ModelOptions withRpcServers(List<RpcServer> servers) {
        return copy(b -> b.rpcServers = servers);
    }

    /** How long to wait for an rpc-server's reply before its connection counts as lost (0: forever; default 5 min). */
    public ModelOptions withRpcReplyTimeout(Duration timeout) {
        return copy(b -> b.rpcReplyTimeout = timeout);
    }

    /** Whether the CPU backend may repack weights into its extra buffer types (default on; off: {@code --no-repack}). */
    public ModelOptions withRepack(boolean on) {
        return copy(b -> b.repack = on);
    }

    /** The one place a changed copy is made: every wither edits a mutable copy of the fields, then validates. */
    private ModelOptions copy(java.util.function.Consumer<Fields> change) {
        Fields b = new Fields(this);
        change.accept(b);
        return b.build();
    }

    /** The record's components as mutable fields, for {@link #copy}. */
    private static final class Fields {
        int threads;
        int batchThreads;
        int gpuLayers;
        int mainGpu;
        int contextSize;
        int batchSize;
        int microBatchSize;
        FlashAttention flashAttention;
        boolean mmprojOnGpu;
        int imageMinTokens;
        int imageMaxTokens;
        LoadMode loadMode;
        boolean warmup;
        LoadProgressListener progress;
        long imageCacheBytes;
        long prefixCacheBytes;
        int parallelSequences;
        boolean memoryCheck;
        List<RpcServer> rpcServers;
        boolean repack;
        Duration rpcReplyTimeout;

        Fields(ModelOptions o) {
            threads = o.threads;
            batchThreads = o.batchThreads;
            gpuLayers = o.gpuLayers;
            mainGpu = o.mainGpu;
            contextSize = o.contextSize;
            batchSize = o.batchSize;
            microBatchSize = o.microBatchSize;
            flashAttention = o.flashAttention;
            mmprojOnGpu = o.mmprojOnGpu;
            imageMinTokens = o.imageMinTokens;
            imageMaxTokens = o.imageMaxTokens;
            loadMode = o.loadMode;
            warmup = o.warmup;
            progress = o.progress;
            imageCacheBytes = o.imageCacheBytes;
            prefixCacheBytes = o.prefixCacheBytes;
            parallelSequences = o.parallelSequences;
            memoryCheck = o.memoryCheck;
            rpcServers = o.rpcServers;
            repack = o.repack;
            rpcReplyTimeout = o.rpcReplyTimeout;
        }

        ModelOptions build() {
            return new ModelOptions(threads, batchThreads, gpuLayers, mainGpu, contextSize, batchSize,
                    microBatchSize, flashAttention, mmprojOnGpu, imageMinTokens, imageMaxTokens, loadMode, warmup,
                    progress, imageCacheBytes, prefixCacheBytes, parallelSequences, memoryCheck, rpcServers,
                    repack, rpcReplyTimeout);
        }
    }

    private static void requireAtLeast(String name, int value, int min) {
        if (value < min) {
            throw new IllegalArgumentException(name + " must be at least " + min + ", got " + value);
        }
    }
}
