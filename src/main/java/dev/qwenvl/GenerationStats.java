package dev.qwenvl;

import java.time.Duration;
import java.util.List;

/**
 * What one generation cost.
 *
 * @param promptTokens     text tokens evaluated for the message (template included)
 * @param imageTokens      image embeddings evaluated for the message
 * @param generatedTokens  tokens sampled, the end-of-generation token included
 * @param imageEncodeTime  time in the vision encoder
 * @param promptEvalTime   time evaluating the message's text and image embeddings in the text model
 * @param generationTime   time sampling and evaluating the generated tokens
 * @param images           how libmtmd preprocessed each image of the message, in message order (empty when the
 *                         message had none); the coordinates a model writes refer to these frames
 * @param cachedImages     images whose embeddings came from the model's image-embedding cache instead of the
 *                         vision encoder
 */
public record GenerationStats(int promptTokens, int imageTokens, int generatedTokens, Duration imageEncodeTime,
                              Duration promptEvalTime, Duration generationTime, List<ImageGeometry> images,
                              int cachedImages) {

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
