package dev.qwenvl;

/**
 * One answer: its text, why it stopped, and what it cost.
 *
 * @param text       the generated text (valid UTF-8 decoded; a stop string and the end token are not included)
 * @param stopReason why generation ended
 * @param stats      token counts and timings
 */
public record Generation(String text, StopReason stopReason, GenerationStats stats) {
}
