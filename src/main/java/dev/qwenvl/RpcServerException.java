package dev.qwenvl;

/** An RPC server is down, unreachable, or speaks another RPC protocol version; found before native code connects. */
public final class RpcServerException extends QwenVlException {
    private final RpcServer server;

    public RpcServerException(RpcServer server, String problem) {
        super("RPC server " + server + " " + problem);
        this.server = server;
    }

    /** The server at fault. */
    public RpcServer server() {
        return server;
    }
}
