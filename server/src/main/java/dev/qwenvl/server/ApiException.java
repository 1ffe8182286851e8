package dev.qwenvl.server;

/**
 * A request the server refuses or cannot serve, answered as OpenAI's {@code {"error": {"message", "type", "code",
 * "param"}}} with {@link #status()}.
 */
final class ApiException extends RuntimeException {
    private final int status;
    private final String type;
    private final String code;
    private final String param;

    ApiException(int status, String type, String code, String param, String message) {
        super(message);
        this.status = status;
        this.type = type;
        this.code = code;
        this.param = param;
    }

    /** 400: the request is malformed or asks for something unsupported; {@code param} names the field, or null. */
    static ApiException invalid(String param, String message) {
        return new ApiException(400, "invalid_request_error", "invalid_value", param, message);
    }

    /** 400 for a field the server neither honours nor ignores. */
    static ApiException unsupported(String param, String message) {
        return new ApiException(400, "invalid_request_error", "unsupported_parameter", param, message);
    }

    /** 503: busy or loading; the client should retry later. */
    static ApiException unavailable(String code, String message) {
        return new ApiException(503, "unavailable_error", code, null, message);
    }

    int status() {
        return status;
    }

    String type() {
        return type;
    }

    String code() {
        return code;
    }

    String param() {
        return param;
    }
}
