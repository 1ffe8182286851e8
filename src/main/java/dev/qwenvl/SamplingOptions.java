package dev.qwenvl;

import java.util.List;
import java.util.Objects;
import java.util.OptionalDouble;
import java.util.OptionalInt;
import java.util.OptionalLong;

/**
 * How tokens are chosen, and when a generation stops. Immutable. A parameter left unset takes the model's
 * {@code general.sampling.*} value when its GGUF has one, else llama-mtmd-cli's default (temperature 0.2, top-k 40,
 * top-p 0.95, min-p 0.05, typical-p 1, repeat penalty 1 over the last 64 tokens, no frequency or presence penalty):
 * exactly what {@code llama-mtmd-cli} does. The chain runs in llama-mtmd-cli's order: penalties, DRY, top-n-sigma,
 * top-k, typical, top-p, min-p, XTC, temperature, then a seeded draw.
 *
 * <pre>{@code
 * SamplingOptions.greedy().withMaxTokens(128);
 * SamplingOptions.defaults().withTemperature(0.2).withSeed(42).withStopStrings(List.of("\n\n"));
 * }</pre>
 */
public final class SamplingOptions {
    private static final SamplingOptions DEFAULTS = new SamplingOptions(null, null, null, null, null, null, null,
            null, null, null, -1, List.of());

    private final Double temperature;
    private final Integer topK;
    private final Double topP;
    private final Double minP;
    private final Double typicalP;
    private final Double repeatPenalty;
    private final Integer repeatLastN;
    private final Double frequencyPenalty;
    private final Double presencePenalty;
    private final Long seed;
    private final int maxTokens;
    private final List<String> stopStrings;

    private SamplingOptions(Double temperature, Integer topK, Double topP, Double minP, Double typicalP,
                            Double repeatPenalty, Integer repeatLastN, Double frequencyPenalty,
                            Double presencePenalty, Long seed, int maxTokens, List<String> stopStrings) {
        this.temperature = temperature;
        this.topK = topK;
        this.topP = topP;
        this.minP = minP;
        this.typicalP = typicalP;
        this.repeatPenalty = repeatPenalty;
        this.repeatLastN = repeatLastN;
        this.frequencyPenalty = frequencyPenalty;
        this.presencePenalty = presencePenalty;
        this.seed = seed;
        this.maxTokens = maxTokens;
        this.stopStrings = stopStrings;
    }

    /** Every parameter from the model or llama.cpp's defaults; no token limit; a random seed. */
    public static SamplingOptions defaults() {
        return DEFAULTS;
    }

    /** Always the most likely token (temperature 0), as {@code llama-mtmd-cli --temp 0}. */
    public static SamplingOptions greedy() {
        return DEFAULTS.withTemperature(0);
    }

    /** Temperature; 0 or below picks the most likely token. */
    public SamplingOptions withTemperature(double t) {
        return copy(finite("temperature", t), topK, topP, minP, typicalP, repeatPenalty, repeatLastN,
                frequencyPenalty, presencePenalty, seed, maxTokens, stopStrings);
    }

    /** Keep the k most likely tokens; 0 or below keeps all. */
    public SamplingOptions withTopK(int k) {
        return copy(temperature, k, topP, minP, typicalP, repeatPenalty, repeatLastN, frequencyPenalty,
                presencePenalty, seed, maxTokens, stopStrings);
    }

    /** Nucleus sampling threshold in [0, 1]; 1 disables it. */
    public SamplingOptions withTopP(double p) {
        return copy(temperature, topK, unit("topP", p), minP, typicalP, repeatPenalty, repeatLastN, frequencyPenalty,
                presencePenalty, seed, maxTokens, stopStrings);
    }

    /** Minimum probability relative to the most likely token, in [0, 1]; 0 disables it. */
    public SamplingOptions withMinP(double p) {
        return copy(temperature, topK, topP, unit("minP", p), typicalP, repeatPenalty, repeatLastN, frequencyPenalty,
                presencePenalty, seed, maxTokens, stopStrings);
    }

    /** Locally typical sampling in [0, 1]; 1 disables it. */
    public SamplingOptions withTypicalP(double p) {
        return copy(temperature, topK, topP, minP, unit("typicalP", p), repeatPenalty, repeatLastN, frequencyPenalty,
                presencePenalty, seed, maxTokens, stopStrings);
    }

    /** Repeat penalty (above 0; 1 disables it) over the last {@code lastN} tokens (0 disables, -1 the context). */
    public SamplingOptions withRepeatPenalty(double penalty, int lastN) {
        if (!(penalty > 0) || Double.isInfinite(penalty)) {
            throw new IllegalArgumentException("repeat penalty must be finite and above 0, got " + penalty);
        }
        if (lastN < -1) {
            throw new IllegalArgumentException("repeat penalty window must be -1 or more, got " + lastN);
        }
        return copy(temperature, topK, topP, minP, typicalP, penalty, lastN, frequencyPenalty, presencePenalty, seed,
                maxTokens, stopStrings);
    }

    /** Frequency and presence penalties; 0 disables each. */
    public SamplingOptions withFrequencyAndPresencePenalties(double frequency, double presence) {
        return copy(temperature, topK, topP, minP, typicalP, repeatPenalty, repeatLastN,
                finite("frequency penalty", frequency), finite("presence penalty", presence), seed, maxTokens,
                stopStrings);
    }

    /** The seed of the final random draw, 0 to 2^32-2; the same seed and inputs give the same text. */
    public SamplingOptions withSeed(long s) {
        if (s < 0 || s >= 0xFFFFFFFFL) {
            throw new IllegalArgumentException("seed must be between 0 and 4294967294, got " + s);
        }
        return copy(temperature, topK, topP, minP, typicalP, repeatPenalty, repeatLastN, frequencyPenalty,
                presencePenalty, s, maxTokens, stopStrings);
    }

    /** At most n generated tokens; -1 for no limit but the context. */
    public SamplingOptions withMaxTokens(int n) {
        if (n < -1) {
            throw new IllegalArgumentException("maxTokens must be -1 (no limit) or more, got " + n);
        }
        return copy(temperature, topK, topP, minP, typicalP, repeatPenalty, repeatLastN, frequencyPenalty,
                presencePenalty, seed, n, stopStrings);
    }

    /** Stop as soon as the text contains one of these; the text returned ends before it. */
    public SamplingOptions withStopStrings(List<String> stops) {
        List<String> copy = List.copyOf(stops);
        if (copy.stream().anyMatch(String::isEmpty)) {
            throw new IllegalArgumentException("stop strings must not be empty");
        }
        return copy(temperature, topK, topP, minP, typicalP, repeatPenalty, repeatLastN, frequencyPenalty,
                presencePenalty, seed, maxTokens, copy);
    }

    public OptionalDouble temperature() {
        return optional(temperature);
    }

    public OptionalInt topK() {
        return topK == null ? OptionalInt.empty() : OptionalInt.of(topK);
    }

    public OptionalDouble topP() {
        return optional(topP);
    }

    public OptionalDouble minP() {
        return optional(minP);
    }

    public OptionalDouble typicalP() {
        return optional(typicalP);
    }

    public OptionalDouble repeatPenalty() {
        return optional(repeatPenalty);
    }

    public OptionalInt repeatLastN() {
        return repeatLastN == null ? OptionalInt.empty() : OptionalInt.of(repeatLastN);
    }

    public OptionalDouble frequencyPenalty() {
        return optional(frequencyPenalty);
    }

    public OptionalDouble presencePenalty() {
        return optional(presencePenalty);
    }

    /** The seed, or empty for a random one. */
    public OptionalLong seed() {
        return seed == null ? OptionalLong.empty() : OptionalLong.of(seed);
    }

    /** The token limit, -1 for none. */
    public int maxTokens() {
        return maxTokens;
    }

    public List<String> stopStrings() {
        return stopStrings;
    }

    private static SamplingOptions copy(Double temperature, Integer topK, Double topP, Double minP, Double typicalP,
                                        Double repeatPenalty, Integer repeatLastN, Double frequencyPenalty,
                                        Double presencePenalty, Long seed, int maxTokens, List<String> stops) {
        return new SamplingOptions(temperature, topK, topP, minP, typicalP, repeatPenalty, repeatLastN,
                frequencyPenalty, presencePenalty, seed, maxTokens, stops);
    }

    private static OptionalDouble optional(Double d) {
        return d == null ? OptionalDouble.empty() : OptionalDouble.of(d);
    }

    private static double finite(String name, double v) {
        if (!Double.isFinite(v)) {
            throw new IllegalArgumentException(name + " must be finite, got " + v);
        }
        return v;
    }

    private static double unit(String name, double v) {
        if (!(v >= 0 && v <= 1)) {
            throw new IllegalArgumentException(name + " must be between 0 and 1, got " + v);
        }
        return v;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof SamplingOptions s && sameChain(s) && maxTokens == s.maxTokens
                && stopStrings.equals(s.stopStrings);
    }

    /** Whether both build the same sampler chain: every parameter but the token limit and the stop strings. */
    boolean sameChain(SamplingOptions s) {
        return Objects.equals(temperature, s.temperature)
                && Objects.equals(topK, s.topK) && Objects.equals(topP, s.topP) && Objects.equals(minP, s.minP)
                && Objects.equals(typicalP, s.typicalP) && Objects.equals(repeatPenalty, s.repeatPenalty)
                && Objects.equals(repeatLastN, s.repeatLastN) && Objects.equals(frequencyPenalty, s.frequencyPenalty)
                && Objects.equals(presencePenalty, s.presencePenalty) && Objects.equals(seed, s.seed);
    }

    @Override
    public int hashCode() {
        return Objects.hash(temperature, topK, topP, minP, typicalP, repeatPenalty, repeatLastN, frequencyPenalty,
                presencePenalty, seed, maxTokens, stopStrings);
    }

    @Override
    public String toString() {
        return "SamplingOptions[temperature=" + temperature + ", topK=" + topK + ", topP=" + topP + ", minP=" + minP
                + ", typicalP=" + typicalP + ", repeatPenalty=" + repeatPenalty + "/" + repeatLastN
                + ", frequencyPenalty=" + frequencyPenalty + ", presencePenalty=" + presencePenalty + ", seed=" + seed
                + ", maxTokens=" + maxTokens + ", stopStrings=" + stopStrings + "]";
    }
}
