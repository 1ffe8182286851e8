package dev.qwenvl.server;

import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;

/** Requires {@code Authorization: Bearer KEY} everywhere but {@code /health} and the chat page's files. */
final class ApiKeyHandler extends Handler.Wrapper {
    private final byte[] key;

    ApiKeyHandler(String key, Handler next) {
        super(next);
        this.key = key.getBytes(StandardCharsets.UTF_8);
    }

    @Override
    public boolean handle(Request request, Response response, Callback callback) throws Exception {
        String path = request.getHttpURI().getPath();
        if (path.equals("/health") || PageHandler.FILES.containsKey(path) || authorized(request)) {
            return super.handle(request, response, callback);
        }
        Responses.error(response, callback, new ApiException(401, "authentication_error", "invalid_api_key", null,
                "this server needs an API key: send Authorization: Bearer KEY"));
        return true;
    }

    private boolean authorized(Request request) {
        String header = request.getHeaders().get(HttpHeader.AUTHORIZATION);
        if (header == null || !header.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return false;
        }
        return MessageDigest.isEqual(header.substring(7).trim().getBytes(StandardCharsets.UTF_8), key);
    }
}
