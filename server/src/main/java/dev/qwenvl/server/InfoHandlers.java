package dev.qwenvl.server;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

import java.util.function.Supplier;

/** The small GET endpoints: {@code /health}, {@code /v1/models}, {@code /metrics}. */
final class InfoHandlers {
    private InfoHandlers() {
    }

    /** {@code GET /health}: 503 while the model loads, then {@code {"status":"ok"}}; no key needed. */
    static final class Health extends ApiHandler {
        private final Supplier<Engine> engine;

        Health(Supplier<Engine> engine, ServerMetrics metrics) {
            super("GET", "/health", metrics);
            this.engine = engine;
        }

        @Override
        void serve(Request request, Response response, Callback callback) {
            engine.get();
            Responses.json(response, callback, 200, Responses.JSON.createObjectNode().put("status", "ok"));
        }
    }

    /** {@code GET /v1/models}: the one model served, in OpenAI's list shape. */
    static final class Models extends ApiHandler {
        private final Supplier<Engine> engine;
        private final ServerOptions options;

        Models(Supplier<Engine> engine, ServerOptions options, ServerMetrics metrics) {
            super("GET", "/v1/models", metrics);
            this.engine = engine;
            this.options = options;
        }

        @Override
        void serve(Request request, Response response, Callback callback) {
            Engine e = engine.get();
            ObjectNode root = Responses.JSON.createObjectNode().put("object", "list");
            ObjectNode model = root.putArray("data").addObject();
            model.put("id", options.modelName());
            model.put("object", "model");
            model.put("created", e.created());
            model.put("owned_by", "qwenvl");
            ObjectNode meta = model.putObject("meta");
            meta.put("model_file", e.model().modelFile().getFileName().toString());
            meta.put("mmproj_file", e.model().mmprojFile().getFileName().toString());
            meta.put("projector", e.model().projectorType());
            meta.put("n_ctx", e.model().options().contextSize());
            meta.put("parallel", options.parallel());
            Responses.json(response, callback, 200, root);
        }
    }

    /** {@code GET /metrics}: Prometheus text. */
    static final class Metrics extends ApiHandler {
        private final ServerMetrics metrics;

        Metrics(ServerMetrics metrics) {
            super("GET", "/metrics", metrics);
            this.metrics = metrics;
        }

        @Override
        void serve(Request request, Response response, Callback callback) {
            response.setStatus(200);
            response.getHeaders().put(HttpHeader.CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
            response.write(true, Responses.utf8(metrics.scrape()), callback);
        }
    }
}
