package dev.qwenvl.server;

import dev.qwenvl.ConversationOptions;
import dev.qwenvl.VisionLanguageModel;
import org.eclipse.jetty.http.pathmap.ServletPathSpec;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.NetworkConnectionLimit;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.handler.ErrorHandler;
import org.eclipse.jetty.server.handler.PathMappingsHandler;
import org.eclipse.jetty.util.thread.VirtualThreadPool;

import java.net.URI;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * An OpenAI-compatible server for one {@link VisionLanguageModel}: {@code POST /v1/chat/completions} (text and
 * images, streamed or not), {@code GET /v1/models}, {@code GET /health}, {@code GET /metrics} and a chat page at
 * {@code /}. It listens at once and loads the model in the background ({@code /health} answers 503 until it is ready).
 *
 * <pre>{@code
 * try (VisionServer server = VisionServer.start(ServerOptions.defaults().withPort(8080),
 *         () -> VisionLanguageModel.load(model, mmproj))) {
 *     server.awaitReady(Duration.ofMinutes(5));
 *     server.join();
 * }
 * }</pre>
 *
 * <p>Each request runs as its own reset conversation of the shared model; {@link ServerOptions#parallel()} of them
 * generate at once (decoded together when the model has as many parallel sequences) and {@link ServerOptions#queue()}
 * more wait. Message text is never read for special tokens.
 */
public final class VisionServer implements AutoCloseable {
    /** Open connections beyond this wait in the kernel's backlog until one closes. */
    static final int MAX_CONNECTIONS = 1024;

    /** Loads the model to serve; called once, on a background thread. */
    @FunctionalInterface
    public interface ModelLoader {
        VisionLanguageModel load() throws Exception;
    }

    private final ServerOptions options;
    private final Server jetty;
    private final ServerConnector connector;
    private final ImageFetcher images;
    private final CountDownLatch loaded = new CountDownLatch(1);
    private volatile Engine engine;
    private volatile Throwable loadFailure;
    private volatile boolean closing;

    private VisionServer(ServerOptions options) throws Exception {
        this.options = options;
        this.images = new ImageFetcher(options);
        VirtualThreadPool threads = new VirtualThreadPool();
        threads.setName("qwenvl-http");
        jetty = new Server(threads);
        HttpConfiguration http = new HttpConfiguration();
        http.setSendServerVersion(false);
        http.setSendXPoweredBy(false);
        connector = new ServerConnector(jetty, 1, 1, new HttpConnectionFactory(http));
        connector.setHost(options.host());
        connector.setPort(options.port());
        connector.setIdleTimeout(options.idleTimeout().toMillis());
        jetty.addConnector(connector);
        jetty.addBean(new NetworkConnectionLimit(MAX_CONNECTIONS, connector));
        ServerMetrics metrics = new ServerMetrics(() -> engine == null ? 0 : engine.pool().processing(),
                () -> engine == null ? 0 : engine.pool().queued());
        PathMappingsHandler routes = new PathMappingsHandler();
        routes.addMapping(new ServletPathSpec("/v1/chat/completions"),
                new ChatCompletionsHandler(options, images, this::engine, metrics));
        routes.addMapping(new ServletPathSpec("/v1/detections"), new DetectionsHandler(options, images, this::engine,
                metrics));
        routes.addMapping(new ServletPathSpec("/v1/models"), new InfoHandlers.Models(this::engine, options, metrics));
        routes.addMapping(new ServletPathSpec("/health"), new InfoHandlers.Health(this::engine, metrics));
        routes.addMapping(new ServletPathSpec("/metrics"), new InfoHandlers.Metrics(metrics));
        routes.addMapping(new ServletPathSpec("/"), new PageHandler(metrics));
        Handler root = options.apiKey() == null ? routes : new ApiKeyHandler(options.apiKey(), routes);
        jetty.setHandler(root);
        jetty.setErrorHandler(VisionServer::jettyError);
        jetty.setStopTimeout(2000);
    }

    /**
     * Listens on {@link ServerOptions#host()}:{@link ServerOptions#port()} and starts loading the model.
     *
     * @throws Exception if the address cannot be bound (in use, not local...)
     */
    public static VisionServer start(ServerOptions options, ModelLoader loader) throws Exception {
        VisionServer server = new VisionServer(options);
        try {
            server.jetty.start();
        } catch (Exception e) {
            server.images.close();
            server.jetty.stop();
            throw e;
        }
        Thread.ofPlatform().name("qwenvl-model-load").daemon().start(() -> server.load(loader));
        return server;
    }

    private void load(ModelLoader loader) {
        VisionLanguageModel model = null;
        try {
            model = loader.load();
            ConversationOptions conversation = ConversationOptions.defaults().withJinja(options.useJinja())
                    .withSpecialTokens(false);
            engine = new Engine(model, new ConversationPool(model, conversation, options.parallel(),
                    options.queue()), System.currentTimeMillis() / 1000);
            if (closing) {
                closeEngine();
            }
        } catch (Throwable t) {
            loadFailure = t;
            if (model != null) {
                model.close();
            }
        } finally {
            loaded.countDown();
        }
    }

    /**
     * Waits until the model is loaded.
     *
     * @return false if it is still loading after {@code timeout}
     * @throws Exception what loading the model threw
     */
    public boolean awaitReady(Duration timeout) throws Exception {
        if (!loaded.await(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            return false;
        }
        if (loadFailure instanceof Exception e) {
            throw e;
        }
        if (loadFailure instanceof Error e) {
            throw e;
        }
        return true;
    }

    /** The port listened on (the chosen one when {@link ServerOptions#port()} is 0). */
    public int port() {
        return connector.getLocalPort();
    }

    /** The server's base address, such as {@code http://127.0.0.1:8080}. */
    public URI uri() {
        String host = options.host().contains(":") ? "[" + options.host() + "]" : options.host();
        return URI.create("http://" + host + ":" + port());
    }

    /** Blocks until the server stops. */
    public void join() throws InterruptedException {
        jetty.join();
    }

    private Engine engine() {
        Engine e = engine;
        if (e != null) {
            return e;
        }
        if (loadFailure != null) {
            throw new ApiException(500, "server_error", "model_load_failed", null, "the model failed to load: "
                    + loadFailure.getMessage());
        }
        throw ApiException.unavailable("loading_model", "the model is loading; retry shortly");
    }

    /** Jetty's own errors (unknown paths, bad HTTP) in the OpenAI shape. */
    private static boolean jettyError(Request request, org.eclipse.jetty.server.Response response,
                                      org.eclipse.jetty.util.Callback callback) {
        int status = response.getStatus();
        Object message = request.getAttribute(ErrorHandler.ERROR_MESSAGE);
        String type = status == 404 ? "not_found_error" : status >= 500 ? "server_error" : "invalid_request_error";
        Responses.error(response, callback, new ApiException(status, type, status == 404 ? "not_found"
                : "http_error", null, message != null ? message.toString() : "HTTP status " + status));
        return true;
    }

    private synchronized void closeEngine() {
        Engine e = engine;
        if (e != null) {
            engine = null;
            e.pool().close();
            e.model().close();
        }
    }

    /** Stops generating, stops listening, and closes the model. Idempotent. */
    @Override
    public void close() throws Exception {
        closing = true;
        closeEngine();
        try {
            jetty.stop();
        } finally {
            images.close();
        }
    }
}
