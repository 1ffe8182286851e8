package dev.qwenvl.server;

import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.util.Map;

/**
 * The chat page at {@code /}: three files shipped in the jar, read once; a strict Content-Security-Policy keeps it
 * from loading anything from elsewhere.
 */
final class PageHandler extends ApiHandler {
    /** The page's files and their media types. */
    static final Map<String, String> FILES = Map.of(
            "/", "text/html; charset=utf-8",
            "/chat.js", "text/javascript; charset=utf-8",
            "/chat.css", "text/css; charset=utf-8");
    private static final String CSP = "default-src 'self'; img-src 'self' data: blob:; style-src 'self';"
            + " script-src 'self'; connect-src 'self'; frame-ancestors 'none'";
    private final Map<String, byte[]> contents;

    PageHandler(ServerMetrics metrics) {
        super("GET", "/", metrics);
        contents = Map.of("/", read("index.html"), "/chat.js", read("chat.js"), "/chat.css", read("chat.css"));
    }

    private static byte[] read(String name) {
        try (InputStream in = PageHandler.class.getResourceAsStream("page/" + name)) {
            if (in == null) {
                throw new IllegalStateException("the jar lacks the page file " + name);
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    void serve(Request request, Response response, Callback callback) {
        String path = request.getHttpURI().getPath();
        byte[] body = contents.get(path);
        if (body == null) {
            throw new ApiException(404, "not_found_error", "not_found", null, "no endpoint at " + path
                    + "; see /v1/chat/completions, /v1/models, /health, /metrics");
        }
        response.setStatus(200);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, FILES.get(path));
        response.getHeaders().put("Content-Security-Policy", CSP);
        response.getHeaders().put("X-Content-Type-Options", "nosniff");
        response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-cache");
        response.write(true, ByteBuffer.wrap(body), callback);
    }
}
