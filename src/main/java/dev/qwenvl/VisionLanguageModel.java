package dev.qwenvl;

import dev.qwenvl.bindings.llama_model_params;
import dev.qwenvl.bindings.llama_progress_callback;
import dev.qwenvl.bindings.mtmd_context_params;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;

import static dev.qwenvl.bindings.qwenvl_h.LLAMA_FLASH_ATTN_TYPE_AUTO;
import static dev.qwenvl.bindings.qwenvl_h.LLAMA_FLASH_ATTN_TYPE_DISABLED;
import static dev.qwenvl.bindings.qwenvl_h.LLAMA_FLASH_ATTN_TYPE_ENABLED;
import static dev.qwenvl.bindings.qwenvl_h.llama_model_default_params;
import static dev.qwenvl.bindings.qwenvl_h.llama_model_free;
import static dev.qwenvl.bindings.qwenvl_h.llama_model_get_vocab;
import static dev.qwenvl.bindings.qwenvl_h.llama_model_load_from_file;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_context_params_default;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_free;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_init_from_file;

/**
 * A Qwen2-VL or Qwen2.5-VL model: the text GGUF and its mmproj (vision encoder), loaded once and shared by any number
 * of {@link Conversation}s, on any threads.
 *
 * <pre>{@code
 * try (VisionLanguageModel model = VisionLanguageModel.load(Path.of("Qwen2.5-VL-3B-Instruct-Q4_K_M.gguf"),
 *                                                           Path.of("mmproj-Qwen2.5-VL-3B-Instruct-f16.gguf"));
 *      Conversation chat = model.newConversation()) {
 *     Generation answer = chat.ask(Message.of("What does the sign say?", Image.read(Path.of("sign.jpg"))),
 *                                  SamplingOptions.greedy());
 *     System.out.println(answer.text());
 * }
 * }</pre>
 *
 * <p>Both files are checked in Java before llama.cpp opens them, so a wrong, damaged or mismatched file is an
 * {@link InvalidModelException} naming the file, never a crash. Closing the model closes its open conversations
 * first, waiting for any generation in progress to stop.
 */
public final class VisionLanguageModel implements AutoCloseable {
    private final Arena arena = Arena.ofShared();
    private final Path modelFile;
    private final Path mmprojFile;
    private final ModelOptions options;
    private final String projector;
    private final int embeddingLength;
    private final int patchSize;
    private final MemorySegment model;
    private final MemorySegment vocab;
    private final MemorySegment vision;
    private final ChatTemplate template;
    private final ImageEmbeddingCache imageCache;
    private final PrefixCache prefixCache;
    private final ReentrantLock visionLock = new ReentrantLock(); // one mtmd context: encode one image at a time
    private final VisionMemory visionMemory; // guarded by visionLock
    private final Set<Conversation> conversations = ConcurrentHashMap.newKeySet();
    private final Object lifecycle = new Object();
    private boolean closed;  // guarded by lifecycle
    private boolean freed;   // guarded by lifecycle
    private String fingerprint;
    private SharedContext shared; // guarded by lifecycle; made with the first conversation when parallelSequences > 1

    private VisionLanguageModel(Path modelFile, Path mmprojFile, ModelOptions options) {
        this.modelFile = modelFile;
        this.mmprojFile = mmprojFile;
        this.options = options;
        this.imageCache = new ImageEmbeddingCache(options.imageCacheBytes());
        this.prefixCache = new PrefixCache(options.prefixCacheBytes());
        NativeRuntime.init();
        GgufMetadata text = ModelFiles.checkText(modelFile);
        embeddingLength = (int) text.requireUnsigned("qwen2vl.embedding_length");
        GgufMetadata clip = ModelFiles.checkMmproj(mmprojFile, embeddingLength);
        projector = clip.requireString("clip.projector_type");
        patchSize = (int) clip.requireUnsigned("clip.vision.patch_size");
        MemorySegment m = MemorySegment.NULL;
        MemorySegment v = MemorySegment.NULL;
        VisionMemory vm = VisionMemory.unchecked();
        try {
            if (options.memoryCheck()) {
                MemoryMeasurement measured = MemoryMeasurement.of(modelFile, mmprojFile, options);
                MemoryPlan plan = MemoryPlan.measure(modelFile, mmprojFile, text, options,
                        options.parallelSequences(), measured);
                if (!plan.fits()) {
                    throw new InsufficientMemoryException(plan);
                }
                vm = VisionMemory.of(measured, options);
            }
            m = loadText();
            NativeLog.drainRecent(); // the text model's load warnings explain no later failure
            v = loadVision(m);
            template = ChatTemplate.of(m, null);
            NativeLog.drainRecent();
        } catch (RuntimeException | Error e) {
            if (!NativeRuntime.isNull(v)) {
                mtmd_free(v);
            }
            if (!NativeRuntime.isNull(m)) {
                llama_model_free(m);
            }
            arena.close();
            throw e;
        }
        RpcServer.connected(options.rpcServers());
        model = m;
        vision = v;
        visionMemory = vm;
        vocab = llama_model_get_vocab(m);
    }

    /** Loads a model and its mmproj with {@link ModelOptions#defaults()}. */
    public static VisionLanguageModel load(Path model, Path mmproj) {
        return load(model, mmproj, ModelOptions.defaults());
    }

    /**
     * Loads a model and its mmproj.
     *
     * @throws InvalidModelException if a file is missing, not a GGUF, damaged, of another architecture, or if the two
     *                               do not belong together
     * @throws InsufficientMemoryException if the {@link MemoryPlan} of the load and one conversation does not fit the
     *                               machine's memory (unless {@link ModelOptions#memoryCheck()} is off)
     * @throws ModelLoadException    if llama.cpp still refuses them (out of memory, an unsupported tensor type...)
     */
    public static VisionLanguageModel load(Path model, Path mmproj, ModelOptions options) {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(mmproj, "mmproj");
        Objects.requireNonNull(options, "options");
        return new VisionLanguageModel(model.toAbsolutePath(), mmproj.toAbsolutePath(), options);
    }

    /**
     * The text model's load parameters for options, without a progress callback; with RPC servers, their devices
     * (each server checked first).
     */
    static MemorySegment modelParams(Arena arena, ModelOptions options) {
        MemorySegment params = llama_model_default_params(arena);
        llama_model_params.n_gpu_layers(params, options.gpuLayers());
        llama_model_params.main_gpu(params, options.mainGpu());
        llama_model_params.load_mode(params, options.loadMode().ordinal() - 1); // AUTO = -1, then llama.cpp's order
        llama_model_params.use_extra_bufts(params, options.repack());
        if (!options.rpcServers().isEmpty()) {
            llama_model_params.devices(params, RpcServer.devices(arena, options.rpcServers(),
                    options.rpcReplyTimeout()));
        }
        return params;
    }

    /** libmtmd's parameters for options. */
    static MemorySegment visionParams(Arena arena, ModelOptions options) {
        MemorySegment params = mtmd_context_params_default(arena);
        mtmd_context_params.use_gpu(params, options.mmprojOnGpu());
        mtmd_context_params.print_timings(params, false);
        mtmd_context_params.n_threads(params, options.threads());
        mtmd_context_params.flash_attn_type(params, flashAttention(options.flashAttention()));
        mtmd_context_params.warmup(params, options.warmup());
        mtmd_context_params.image_min_tokens(params, options.imageMinTokens() > 0 ? options.imageMinTokens() : -1);
        mtmd_context_params.image_max_tokens(params, options.imageMaxTokens() > 0 ? options.imageMaxTokens() : -1);
        return params;
    }

    private MemorySegment loadText() {
        MemorySegment params = modelParams(arena, options);
        Throwable[] listenerFailure = new Throwable[1];
        if (options.progress() != null) {
            ModelOptions.LoadProgressListener listener = options.progress();
            llama_model_params.progress_callback(params, llama_progress_callback.allocate((fraction, ud) -> {
                try { // an exception escaping an upcall would end the JVM
                    return listener.onProgress(fraction);
                } catch (Throwable t) {
                    listenerFailure[0] = t;
                    return false;
                }
            }, arena));
        }
        MemorySegment m = llama_model_load_from_file(arena.allocateFrom(modelFile.toString()), params);
        if (listenerFailure[0] != null) {
            throw new ModelLoadException("loading " + modelFile + " stopped: the progress listener threw "
                    + listenerFailure[0]);
        }
        if (NativeRuntime.isNull(m)) {
            throw new ModelLoadException(NativeLog.withRecent("llama.cpp could not load " + modelFile
                    + (options.progress() != null ? " (or the progress listener cancelled it)" : "")));
        }
        return m;
    }

    private MemorySegment loadVision(MemorySegment m) {
        MemorySegment v = mtmd_init_from_file(arena.allocateFrom(mmprojFile.toString()), m,
                visionParams(arena, options));
        if (NativeRuntime.isNull(v)) {
            throw new ModelLoadException(NativeLog.withRecent("libmtmd could not load the mmproj " + mmprojFile));
        }
        return v;
    }

    static int flashAttention(ModelOptions.FlashAttention mode) {
        return switch (mode) {
            case AUTO -> LLAMA_FLASH_ATTN_TYPE_AUTO();
            case ENABLED -> LLAMA_FLASH_ATTN_TYPE_ENABLED();
            case DISABLED -> LLAMA_FLASH_ATTN_TYPE_DISABLED();
        };
    }

    /** A new conversation with its own context (KV cache) of {@link ModelOptions#contextSize()} tokens. */
    public Conversation newConversation() {
        return newConversation(ConversationOptions.defaults());
    }

    /** A new conversation with its own context (KV cache), a system prompt and template settings. */
    public Conversation newConversation(ConversationOptions conversationOptions) {
        // what the open conversations hold may be how this one begins: offered now, outside the model's lock
        List<Conversation> open;
        synchronized (lifecycle) {
            checkOpen();
            open = new ArrayList<>(conversations);
        }
        open.forEach(Conversation::offerPrefixIfIdle);
        synchronized (lifecycle) {
            checkOpen();
            Conversation c = new Conversation(this, conversationOptions);
            conversations.add(c);
            return c;
        }
    }

    /** The text model's file. */
    public Path modelFile() {
        return modelFile;
    }

    /** The mmproj's file. */
    public Path mmprojFile() {
        return mmprojFile;
    }

    /** The options the model was loaded with. */
    public ModelOptions options() {
        return options;
    }

    /** {@code qwen2.5vl_merger} (Qwen2.5-VL) or {@code qwen2vl_merger} (Qwen2-VL). */
    public String projectorType() {
        return projector;
    }

    /** The text model's embedding length (and the mmproj's projection size). */
    public int embeddingLength() {
        return embeddingLength;
    }

    /**
     * How libmtmd would preprocess {@code image} for this model (its frame, padding and token grid, under this
     * model's image token bounds), found by tokenizing it alone; nothing is encoded, so this costs a resize, not a
     * run of the vision encoder. {@link GenerationStats#images()} reports the same for the images of a question.
     *
     * @throws ImageException if libmtmd cannot decode or preprocess the image
     */
    public ImageGeometry imageGeometry(Image image) {
        Objects.requireNonNull(image, "image");
        visionLock.lock(); // close() frees the mtmd context under this lock, after marking the model closed
        try {
            checkOpen();
            return ImageChunks.tokenizeOnly(this, image);
        } finally {
            visionLock.unlock();
        }
    }

    /** The chat template in use (the GGUF's {@code tokenizer.chat_template}, or llama.cpp's ChatML fallback). */
    public String chatTemplate() {
        checkOpen();
        return template.source();
    }

    int patchSize() {
        return patchSize;
    }

    MemorySegment model() {
        return model;
    }

    MemorySegment vocab() {
        return vocab;
    }

    MemorySegment vision() {
        return vision;
    }

    ChatTemplate template() {
        return template;
    }

    /** What the image-embedding cache holds and how often it saved an encode. */
    public ImageCacheStats imageCacheStats() {
        return imageCache.stats();
    }

    /**
     * A conversation saved with {@link Conversation#save}, restored into a new conversation of this model: it goes
     * on exactly where it was saved, its images still in the KV cache.
     *
     * @throws StateFileException           if the file is not a saved conversation, is damaged, or was saved from
     *                                      other model files
     * @throws java.io.UncheckedIOException if the file cannot be read
     */
    public Conversation restore(Path file, ConversationOptions conversationOptions) {
        Objects.requireNonNull(file, "file");
        Conversation c = newConversation(conversationOptions);
        try {
            c.restoreFrom(file);
        } catch (RuntimeException | Error e) {
            c.close();
            throw e;
        }
        return c;
    }

    /**
     * What identifies the model files for a saved conversation: the SHA-256 of each file's size, first 8 MiB (the
     * GGUF header, vocabulary and first tensors) and last MiB.
     */
    synchronized String fingerprint() {
        if (fingerprint == null) {
            try {
                java.security.MessageDigest sha = java.security.MessageDigest.getInstance("SHA-256");
                for (Path f : List.of(modelFile, mmprojFile)) {
                    try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(f)) {
                        long size = ch.size();
                        sha.update(java.nio.ByteBuffer.allocate(8).putLong(size).array());
                        long head = Math.min(size, 8L << 20);
                        long tail = Math.min(size - head, 1L << 20);
                        for (long[] range : new long[][]{{0, head}, {size - tail, tail}}) {
                            java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocate((int) range[1]);
                            while (buf.hasRemaining() && ch.read(buf, range[0] + buf.position()) > 0) {
                                // read the whole range
                            }
                            sha.update(buf.flip());
                        }
                    }
                }
                fingerprint = "sha256:" + java.util.HexFormat.of().formatHex(sha.digest());
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException("cannot read the model files to fingerprint them", e);
            } catch (java.security.NoSuchAlgorithmException e) {
                throw new IllegalStateException("every JDK has SHA-256", e);
            }
        }
        return fingerprint;
    }

    /** What the prefix cache holds and how many prompt tokens it saved computing. */
    public PrefixCacheStats prefixCacheStats() {
        return prefixCache.stats();
    }

    PrefixCache prefixCache() {
        return prefixCache;
    }

    ImageEmbeddingCache imageCache() {
        return imageCache;
    }

    ReentrantLock visionLock() {
        return visionLock;
    }

    /**
     * Refuses, with an {@link ImageException}, an image whose vision buffers would not fit the memory free now (see
     * {@link MemoryPlan}); the caller holds {@link #visionLock()}.
     */
    void admitImage(int tokens, String what) {
        visionMemory.admit(tokens, what);
    }

    /** A context of the conversation's own, or a sequence of the shared one; called with the lifecycle lock held. */
    ContextHandle newContextHandle() {
        if (options.parallelSequences() == 1) {
            return new ContextHandle(this);
        }
        if (shared == null) {
            shared = new SharedContext(this);
        }
        int seq = shared.lease();
        if (seq < 0) {
            throw new IllegalStateException("all " + shared.sequences() + " sequences of the model's shared context"
                    + " are held by open conversations; close one, or load with ModelOptions.withParallelSequences"
                    + " above " + shared.sequences());
        }
        return new ContextHandle(shared, seq);
    }

    /** A conversation has freed its context; the last one out frees a closed model. */
    void forget(Conversation c) {
        boolean last;
        synchronized (lifecycle) {
            conversations.remove(c);
            last = closed && conversations.isEmpty();
        }
        if (last) {
            freeNative();
        }
    }

    void checkOpen() {
        synchronized (lifecycle) {
            if (closed) {
                throw new IllegalStateException("the model " + modelFile.getFileName() + " is closed");
            }
        }
    }

    /**
     * Closes the open conversations (stopping their answers), then frees the model once every conversation's context
     * is freed, as llama.h requires. Idempotent; safe from any thread and from inside a conversation's listener.
     */
    @Override
    public void close() {
        List<Conversation> open;
        synchronized (lifecycle) {
            if (closed) {
                return;
            }
            closed = true;
            open = new ArrayList<>(conversations);
        }
        open.forEach(Conversation::close);
        boolean none;
        synchronized (lifecycle) {
            none = conversations.isEmpty(); // else a close deferred inside a native callback frees it last
        }
        if (none) {
            freeNative();
        }
    }

    private void freeNative() {
        synchronized (lifecycle) {
            if (freed) {
                return;
            }
            freed = true;
        }
        visionLock.lock();
        try {
            if (shared != null) {
                shared.close();
            }
            template.close();
            mtmd_free(vision);
            llama_model_free(model);
            RpcServer.disconnected(options.rpcServers());
        } finally {
            visionLock.unlock();
        }
        arena.close();
    }
}
