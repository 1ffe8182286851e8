package dev.qwenvl.server;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * How {@link VisionServer} listens and what it accepts. Immutable; start from {@link #defaults()}.
 *
 * @param host                 the address to bind; loopback unless the operator opens it
 * @param port                 the TCP port; 0 for any free one
 * @param parallel             conversations generating at once; load the model with
 *                             {@code ModelOptions.withParallelSequences(parallel)} to decode their tokens together in
 *                             one llama.cpp context (with 1 sequence, each conversation has a context of its own)
 * @param queue                requests waiting for a free conversation; one more gets 503 with Retry-After
 * @param apiKey               the Bearer token every endpoint but {@code /health} and the page requires, or null
 * @param modelName            the model id in {@code /v1/models} and in answers
 * @param useJinja             render the chat template with Jinja, as llama-server does by default
 * @param allowRemoteImages    fetch {@code http(s)} image URLs for clients
 * @param allowPrivateHosts    let those URLs reach loopback, link-local and private addresses (tests, trusted LANs)
 * @param mediaDir             the directory {@code file:} image URLs may read from, or null to refuse them
 * @param maxBodyBytes         the largest request body
 * @param maxImagesPerRequest  the most images in one request, all messages together
 * @param maxImageBytes        the largest image file (after base64 decoding, or fetched)
 * @param remoteImageTimeout   the total time one remote image may take to arrive
 * @param maxRedirects         redirects followed for one remote image
 * @param idleTimeout          how long a connection may stay silent before it is closed
 */
public record ServerOptions(String host, int port, int parallel, int queue, String apiKey, String modelName,
                            boolean useJinja, boolean allowRemoteImages, boolean allowPrivateHosts, Path mediaDir,
                            long maxBodyBytes, int maxImagesPerRequest, int maxImageBytes,
                            Duration remoteImageTimeout, int maxRedirects, Duration idleTimeout) {

    public ServerOptions {
        Objects.requireNonNull(host, "host");
        Objects.requireNonNull(modelName, "modelName");
        Objects.requireNonNull(remoteImageTimeout, "remoteImageTimeout");
        Objects.requireNonNull(idleTimeout, "idleTimeout");
        requireRange("port", port, 0, 65535);
        requireRange("parallel", parallel, 1, 256);
        requireRange("queue", queue, 0, 1_000_000);
        requireRange("maxImagesPerRequest", maxImagesPerRequest, 0, 10_000);
        requireRange("maxImageBytes", maxImageBytes, 1, Integer.MAX_VALUE);
        requireRange("maxRedirects", maxRedirects, 0, 20);
        if (maxBodyBytes < 1) {
            throw new IllegalArgumentException("maxBodyBytes must be at least 1, got " + maxBodyBytes);
        }
        if (apiKey != null && apiKey.isBlank()) {
            throw new IllegalArgumentException("the API key must not be blank; leave it unset for no key");
        }
    }

    /**
     * Loopback port 8080, one conversation at a time, 64 waiting, no key, Jinja on, no remote or file images; 32 MiB
     * bodies, 16 images of at most 20 MiB, 10 s and 3 redirects per remote image, 60 s idle connections.
     */
    public static ServerOptions defaults() {
        return new ServerOptions("127.0.0.1", 8080, 1, 64, null, "qwenvl", true, false, false, null,
                32L * 1024 * 1024, 16, 20 * 1024 * 1024, Duration.ofSeconds(10), 3, Duration.ofSeconds(60));
    }

    public ServerOptions withHost(String h) {
        return copy(f -> f.host = h);
    }

    public ServerOptions withPort(int p) {
        return copy(f -> f.port = p);
    }

    /** {@code n} conversations generating at once and {@code waiting} requests queued behind them. */
    public ServerOptions withParallel(int n, int waiting) {
        return copy(f -> {
            f.parallel = n;
            f.queue = waiting;
        });
    }

    public ServerOptions withApiKey(String key) {
        return copy(f -> f.apiKey = key);
    }

    public ServerOptions withModelName(String name) {
        return copy(f -> f.modelName = name);
    }

    public ServerOptions withJinja(boolean jinja) {
        return copy(f -> f.useJinja = jinja);
    }

    /** Whether {@code http(s)} image URLs are fetched, and whether they may reach private addresses. */
    public ServerOptions withRemoteImages(boolean allow, boolean privateHosts) {
        return copy(f -> {
            f.allowRemoteImages = allow;
            f.allowPrivateHosts = privateHosts;
        });
    }

    public ServerOptions withMediaDir(Path dir) {
        return copy(f -> f.mediaDir = dir);
    }

    /** Limits on the body, the number of images and each image's size. */
    public ServerOptions withLimits(long bodyBytes, int images, int imageBytes) {
        return copy(f -> {
            f.maxBodyBytes = bodyBytes;
            f.maxImagesPerRequest = images;
            f.maxImageBytes = imageBytes;
        });
    }

    /** Limits on remote image fetches. */
    public ServerOptions withRemoteLimits(Duration timeout, int redirects) {
        return copy(f -> {
            f.remoteImageTimeout = timeout;
            f.maxRedirects = redirects;
        });
    }

    public ServerOptions withIdleTimeout(Duration idle) {
        return copy(f -> f.idleTimeout = idle);
    }

    /** The one place a changed copy is made: every wither edits a mutable copy of the fields, then validates. */
    private ServerOptions copy(Consumer<Fields> change) {
        Fields f = new Fields(this);
        change.accept(f);
        return f.build();
    }

    /** The record's components as mutable fields, for {@link #copy}. */
    private static final class Fields {
        String host;
        int port;
        int parallel;
        int queue;
        String apiKey;
        String modelName;
        boolean useJinja;
        boolean allowRemoteImages;
        boolean allowPrivateHosts;
        Path mediaDir;
        long maxBodyBytes;
        int maxImagesPerRequest;
        int maxImageBytes;
        Duration remoteImageTimeout;
        int maxRedirects;
        Duration idleTimeout;

        Fields(ServerOptions o) {
            host = o.host;
            port = o.port;
            parallel = o.parallel;
            queue = o.queue;
            apiKey = o.apiKey;
            modelName = o.modelName;
            useJinja = o.useJinja;
            allowRemoteImages = o.allowRemoteImages;
            allowPrivateHosts = o.allowPrivateHosts;
            mediaDir = o.mediaDir;
            maxBodyBytes = o.maxBodyBytes;
            maxImagesPerRequest = o.maxImagesPerRequest;
            maxImageBytes = o.maxImageBytes;
            remoteImageTimeout = o.remoteImageTimeout;
            maxRedirects = o.maxRedirects;
            idleTimeout = o.idleTimeout;
        }

        ServerOptions build() {
            return new ServerOptions(host, port, parallel, queue, apiKey, modelName, useJinja, allowRemoteImages,
                    allowPrivateHosts, mediaDir, maxBodyBytes, maxImagesPerRequest, maxImageBytes,
                    remoteImageTimeout, maxRedirects, idleTimeout);
        }
    }

    private static void requireRange(String name, long value, long min, long max) {
        if (value < min || value > max) {
            throw new IllegalArgumentException(name + " must be between " + min + " and " + max + ", got " + value);
        }
    }
}
