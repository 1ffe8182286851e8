package dev.qwenvl;

/**
 * A conversation's sampler chain: one for the whole chat, as llama-mtmd-cli keeps it (a seeded chat draws what the
 * CLI draws), rebuilt only when the options ask for another chain. Used with the conversation's native lock held.
 */
final class ChatSampler implements AutoCloseable {
    private final VisionLanguageModel model;
    private Sampler sampler;
    private SamplingOptions options;

    ChatSampler(VisionLanguageModel model) {
        this.model = model;
    }

    /** The chain for {@code sampling}: the current one unless the chain would differ. */
    Sampler forOptions(SamplingOptions sampling) {
        if (sampler == null || !options.sameChain(sampling)) {
            close();
            sampler = Sampler.create(model.model(), model.vocab(), sampling);
            options = sampling;
        }
        return sampler;
    }

    @Override
    public void close() {
        if (sampler != null) {
            sampler.close();
            sampler = null;
        }
    }
}
