package dev.qwenvl.server;

import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

import java.io.IOException;
import java.io.InputStream;

/** An endpoint: checks the method, and answers any {@link ApiException} it throws as an OpenAI error. */
abstract class ApiHandler extends Handler.Abstract {
    private final String method;
    private final String endpoint;
    private final ServerMetrics metrics;

    ApiHandler(String method, String endpoint, ServerMetrics metrics) {
        this.method = method;
        this.endpoint = endpoint;
        this.metrics = metrics;
    }

    @Override
    public final boolean handle(Request request, Response response, Callback callback) throws Exception {
        Callback counted = Callback.from(callback, () -> metrics.request(endpoint, response.getStatus()));
        try {
            if (!request.getMethod().equals(method) && !(method.equals("GET") && request.getMethod().equals("HEAD"))) {
                response.getHeaders().put("Allow", method);
                throw new ApiException(405, "invalid_request_error", "method_not_allowed", null, endpoint
                        + " accepts " + method + ", not " + request.getMethod());
            }
            serve(request, response, counted);
        } catch (ApiException e) {
            Responses.error(response, counted, e);
        }
        return true;
    }

    /** Answers the request, completing {@code callback}; may throw {@link ApiException} before writing anything. */
    abstract void serve(Request request, Response response, Callback callback) throws Exception;

    /** The request's body, refused with a 413 beyond {@code max} bytes (declared or sent). */
    static byte[] readBody(Request request, long max) throws IOException {
        if (request.getHeaders().getLongField(HttpHeader.CONTENT_LENGTH) > max) {
            throw tooLarge(max);
        }
        try (InputStream in = Content.Source.asInputStream(request)) {
            byte[] body = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, max + 1));
            if (body.length > max) {
                throw tooLarge(max);
            }
            return body;
        }
    }

    private static ApiException tooLarge(long max) {
        return new ApiException(413, "invalid_request_error", "request_too_large", null, "the body is larger than "
                + max + " bytes");
    }
}
