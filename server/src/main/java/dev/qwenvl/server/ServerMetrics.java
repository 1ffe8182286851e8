package dev.qwenvl.server;

import dev.qwenvl.GenerationStats;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;

import java.time.Duration;
import java.util.function.IntSupplier;

/** The server's Prometheus metrics: requests by outcome, tokens, the queue, and where the time went. */
final class ServerMetrics {
    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final Counter promptTokens;
    private final Counter imageTokens;
    private final Counter generatedTokens;
    private final Counter images;
    private final Counter cachedImages;
    private final Counter cachedTokens;
    private final Counter cancelled;
    private final Timer requestTime;
    private final Timer firstToken;
    private final Timer imageEncode;
    private final Timer promptEval;
    private final Timer generation;

    ServerMetrics(IntSupplier processing, IntSupplier queued) {
        promptTokens = Counter.builder("qwenvl.prompt.tokens").description("Text tokens evaluated for prompts")
                .register(registry);
        imageTokens = Counter.builder("qwenvl.image.tokens").description("Image embeddings evaluated")
                .register(registry);
        generatedTokens = Counter.builder("qwenvl.generated.tokens").description("Tokens generated")
                .register(registry);
        images = Counter.builder("qwenvl.images").description("Images received").register(registry);
        cancelled = Counter.builder("qwenvl.requests.cancelled")
                .description("Generations stopped because the client left").register(registry);
        requestTime = Timer.builder("qwenvl.request.duration").description("Chat completion time, queue included")
                .register(registry);
        firstToken = Timer.builder("qwenvl.time.to.first.token").description("From arrival to the first piece")
                .register(registry);
        imageEncode = Timer.builder("qwenvl.image.encode").description("Time in the vision encoder")
                .register(registry);
        promptEval = Timer.builder("qwenvl.prompt.eval").description("Prompt evaluation time in the text model")
                .register(registry);
        generation = Timer.builder("qwenvl.generation").description("Sampling and decoding time")
                .register(registry);
        Gauge.builder("qwenvl.requests.processing", processing::getAsInt)
                .description("Requests generating now").register(registry);
        Gauge.builder("qwenvl.requests.queued", queued::getAsInt)
                .description("Requests waiting for a free conversation").register(registry);
        cachedTokens = Counter.builder("qwenvl.prompt.cached.tokens")
                .description("Prompt tokens whose KV cells came from the prefix cache").register(registry);
        cachedImages = Counter.builder("qwenvl.images.cached")
                .description("Images whose embeddings came from the image cache").register(registry);
    }

    /** Counts one finished HTTP exchange of {@code endpoint} with {@code status}. */
    void request(String endpoint, int status) {
        registry.counter("qwenvl.requests", "endpoint", endpoint, "status", Integer.toString(status)).increment();
    }

    void imagesReceived(long n) {
        images.increment(n);
    }

    void cancelled() {
        cancelled.increment();
    }

    void firstToken(Duration sinceArrival) {
        firstToken.record(sinceArrival);
    }

    void completed(GenerationStats stats, Duration sinceArrival) {
        promptTokens.increment(stats.promptTokens());
        imageTokens.increment(stats.imageTokens());
        generatedTokens.increment(stats.generatedTokens());
        cachedTokens.increment(stats.cachedTokens());
        cachedImages.increment(stats.cachedImages());
        imageEncode.record(stats.imageEncodeTime());
        promptEval.record(stats.promptEvalTime());
        generation.record(stats.generationTime());
        requestTime.record(sinceArrival);
    }

    /** The Prometheus text exposition. */
    String scrape() {
        return registry.scrape();
    }
}
