package dev.qwenvl;

/**
 * What a model's image-embedding cache holds and has done since the model was loaded.
 *
 * @param hits      images whose embeddings came from the cache (their encode was skipped)
 * @param misses    images that had to be encoded
 * @param evictions entries dropped to stay within the bound, least recently used first
 * @param entries   images held now
 * @param bytes     bytes of embeddings held now
 * @param maxBytes  the bound ({@link ModelOptions#imageCacheBytes()}); 0 when the cache is off
 */
public record ImageCacheStats(long hits, long misses, long evictions, long entries, long bytes, long maxBytes) {
}
