package dev.qwenvl.server;

import dev.qwenvl.ModelOptions;
import dev.qwenvl.VisionLanguageModel;
import dev.qwenvl.testing.ModelPair;
import dev.qwenvl.testing.Spec;
import dev.qwenvl.testing.TestImages;
import dev.qwenvl.testing.TinyModels;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;

/** Servers on loopback over the tiny Qwen2.5-VL pair, with the settings under which answers are reproducible. */
final class TinyServer {
    static final String KEY = "test-key-0123";

    private TinyServer() {
    }

    static ModelPair pair() {
        return TinyModels.pair(Spec.tiny(Spec.Projector.QWEN25VL));
    }

    /** Two threads, flash attention off, a 4096-token context: as the llama-server reference is started. */
    static ModelOptions modelOptions() {
        return ModelOptions.defaults().withThreads(2).withFlashAttention(ModelOptions.FlashAttention.DISABLED)
                .withContextSize(4096);
    }

    static VisionLanguageModel load() {
        return load(modelOptions());
    }

    static VisionLanguageModel load(ModelOptions options) {
        ModelPair pair = pair();
        return VisionLanguageModel.load(pair.text(), pair.mmproj(), options);
    }

    /**
     * Loopback, any free port, and {@code options} otherwise, the model decoding its {@code parallel} conversations
     * together; returns once the model is loaded.
     */
    static VisionServer start(ServerOptions options) throws Exception {
        return start(options, modelOptions().withParallelSequences(options.parallel()));
    }

    /** As {@link #start(ServerOptions)}, with the model loaded with {@code model}. */
    static VisionServer start(ServerOptions options, ModelOptions model) throws Exception {
        VisionServer server = VisionServer.start(options.withHost("127.0.0.1").withPort(0), () -> load(model));
        if (!server.awaitReady(Duration.ofSeconds(120))) {
            server.close();
            throw new AssertionError("the tiny model did not load within 120 s");
        }
        return server;
    }

    /** A {@code width} x {@code height} gradient PNG. */
    static byte[] png(int width, int height) {
        try {
            Path file = Files.createTempFile("qwenvl-server", ".png");
            try {
                return Files.readAllBytes(TestImages.gradient(file, width, height));
            } finally {
                Files.deleteIfExists(file);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static String dataUri(byte[] png) {
        return "data:image/png;base64," + Base64.getEncoder().encodeToString(png);
    }
}
