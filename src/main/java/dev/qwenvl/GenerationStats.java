package dev.qwenvl;

import java.time.Duration;
import java.util.List;

/**
 * What one generation cost.
 *
 * @param promptTokens     text tokens of the turns this question added (template included), computed or cached
 * @param imageTokens      image embeddings of the turns this question added, computed or cached
 * @param generatedTokens  tokens sampled, the end-of-generation token included
 * @param imageEncodeTime  time in the vision encoder
 * @param promptEvalTime   time evaluating the message's text and image embeddings in the text model
 * @param generationTime   time sampling and evaluating the generated tokens
 * @param images           how libmtmd preprocessed each image of the message, in message order (empty when the
 *                         message had none); the coordinates a model writes refer to these frames
 * @param cachedImages     images whose embeddings came from the model's image-embedding cache instead of the
 *                         vision encoder
 * @param cachedTokens     of the prompt's text and image tokens, those whose KV cells were taken over from the
 *                         model's prefix cache (a conversation that began as an earlier one did) instead of computed
 */
public record GenerationStats(int promptTokens, int imageTokens, int generatedTokens, Duration imageEncodeTime,
                              Duration promptEvalTime, Duration generationTime, List<ImageGeometry> images,
                              int cachedImages, int cachedTokens) {

    public GenerationStats {
        images = List.copyOf(images);
    }

    /** Prompt (text and image) tokens evaluated per second. */
    public double promptTokensPerSecond() {
        return perSecond(promptTokens + imageTokens, promptEvalTime);
    }

    /** Generated tokens per second. */
    public double generationTokensPerSecond() {
        return perSecond(generatedTokens, generationTime);
    }

    private static double perSecond(int tokens, Duration d) {
        return d.isZero() ? 0 : tokens / (d.toNanos() / 1e9);
    }
}
