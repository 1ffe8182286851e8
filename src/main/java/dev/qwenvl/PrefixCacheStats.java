package dev.qwenvl;

/**
 * What a model's prefix cache holds and has done since the model was loaded.
 *
 * @param hits         conversations that began by taking over cached cells
 * @param itemsReused  text tokens and images those conversations took over instead of computing
 * @param entries      finished conversations' cells held now
 * @param bytes        bytes of KV state held now
 * @param maxBytes     the bound ({@link ModelOptions#prefixCacheBytes()}); 0 when the cache is off
 */
public record PrefixCacheStats(long hits, long itemsReused, long entries, long bytes, long maxBytes) {
}
