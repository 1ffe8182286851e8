package dev.qwenvl;

import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;

import static dev.qwenvl.bindings.qwenvl_h.qwenvl_local_model_devices;
import static dev.qwenvl.bindings.qwenvl_h.qwenvl_rpc_connection_lost;
import static dev.qwenvl.bindings.qwenvl_h.qwenvl_rpc_devices;
import static dev.qwenvl.bindings.qwenvl_h.qwenvl_rpc_protocol_version;
import static dev.qwenvl.bindings.qwenvl_h.qwenvl_rpc_set_reply_timeout;

/**
 * An {@code rpc-server} (llama.cpp's RPC backend, {@code tools/rpc}) whose devices take a share of the model's layers,
 * as llama.cpp's {@code --rpc host:port} does. The protocol has no authentication and no encryption: never expose an
 * rpc-server beyond a network you trust.
 *
 * @param host name or address
 * @param port TCP port (rpc-server's default is 50052)
 */
public record RpcServer(String host, int port) {
    /** RPC_CMD_HELLO (ggml-rpc.cpp: "must be always 14"). */
    private static final int HELLO = 14;
    /** rpc_msg_hello_req: conn_caps[RPC_CONN_CAPS_SIZE = 24]; all zero asks for plain TCP. */
    private static final int HELLO_REQUEST_SIZE = 24;
    /** rpc_msg_hello_rsp: major, minor, patch, padding, conn_caps[24]. */
    private static final int HELLO_RESPONSE_SIZE = 28;
    private static final int CONNECT_TIMEOUT_MS = 3000;
    private static final int ANSWER_TIMEOUT_MS = 5000;
    private static final int MAX_DEVICES = 64;
    private static final int ERR_LEN = 512;
    /** Servers a loaded model holds a connection to, by count: one client at a time, so hello would wait. */
    private static final Map<RpcServer, Integer> CONNECTED = new ConcurrentHashMap<>();

    public RpcServer {
        Objects.requireNonNull(host, "host");
        if (host.isBlank() || host.contains(":") && !host.startsWith("[")) {
            throw new IllegalArgumentException("RPC server host must be a name or an IPv4 address (IPv6 in [brackets]),"
                    + " got '" + host + "'");
        }
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("RPC server port must be 1 to 65535, got " + port);
        }
    }

    /** Parses {@code host:port}, as llama.cpp's {@code --rpc} takes it. */
    public static RpcServer parse(String endpoint) {
        Objects.requireNonNull(endpoint, "endpoint");
        int colon = endpoint.lastIndexOf(':');
        if (colon <= 0 || colon == endpoint.length() - 1) {
            throw new IllegalArgumentException("RPC server '" + endpoint + "' is not host:port");
        }
        try {
            return new RpcServer(endpoint.substring(0, colon), Integer.parseInt(endpoint.substring(colon + 1)));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("RPC server '" + endpoint + "' has no numeric port");
        }
    }

    /** {@code host:port}, as llama.cpp names the endpoint. */
    @Override
    public String toString() {
        return host + ":" + port;
    }

    /**
     * Says hello as ggml's RPC client would and checks the version the server answers with, so that a server that is
     * down or speaks another protocol is an exception here instead of an abort() in ggml's client.
     *
     * @throws RpcServerException naming the server and the problem
     */
    void check() {
        int client = qwenvl_rpc_protocol_version();
        int major = client >> 16;
        int minor = (client >> 8) & 0xff;
        String ours = major + "." + minor + "." + (client & 0xff);
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(host.replaceAll("^\\[|]$", ""), port), CONNECT_TIMEOUT_MS);
            socket.setSoTimeout(ANSWER_TIMEOUT_MS);
            ByteBuffer request = ByteBuffer.allocate(1 + 8 + HELLO_REQUEST_SIZE).order(ByteOrder.LITTLE_ENDIAN);
            request.put((byte) HELLO).putLong(HELLO_REQUEST_SIZE);
            OutputStream out = socket.getOutputStream();
            out.write(request.array());
            out.flush();
            DataInputStream in = new DataInputStream(socket.getInputStream());
            byte[] size = new byte[8];
            in.readFully(size);
            long answered = ByteBuffer.wrap(size).order(ByteOrder.LITTLE_ENDIAN).getLong();
            if (answered != HELLO_RESPONSE_SIZE) {
                throw new RpcServerException(this, "does not answer as an rpc-server of protocol " + ours
                        + " (a hello of " + answered + " bytes): run rpc-server from the same llama.cpp build");
            }
            byte[] hello = new byte[HELLO_RESPONSE_SIZE];
            in.readFully(hello);
            if (hello[0] != major || hello[1] > minor) {
                throw new RpcServerException(this, "speaks RPC protocol " + hello[0] + "." + hello[1] + "." + hello[2]
                        + ", this build's client " + ours + " (ggml's client would abort): run rpc-server from the"
                        + " same llama.cpp build");
            }
        } catch (ConnectException e) {
            throw new RpcServerException(this, "refuses connections (" + e.getMessage() + "): start rpc-server there"
                    + " (rpc-server -H HOST -p " + port + ") or fix the address");
        } catch (SocketTimeoutException e) {
            throw new RpcServerException(this, "does not answer within " + CONNECT_TIMEOUT_MS / 1000 + " s to connect"
                    + " or " + ANSWER_TIMEOUT_MS / 1000 + " s to say hello (an rpc-server serves one client at a time:"
                    + " is another using it?)");
        } catch (EOFException e) {
            throw new RpcServerException(this, "closed the connection at hello: it is not an rpc-server of protocol "
                    + ours + ", or it refused this client");
        } catch (IOException e) {
            throw new RpcServerException(this, "cannot be reached: " + e);
        }
    }

    /**
     * The NULL-terminated device list for {@code llama_model_params.devices}: each server's devices first (after its
     * {@link #check()}, unless a loaded model already holds its connection), then the local GPUs llama.cpp would
     * pick by default, as llama.cpp orders them. Each server's connection waits at most replyTimeout for a reply.
     */
    static MemorySegment devices(Arena arena, List<RpcServer> servers, Duration replyTimeout) {
        List<MemorySegment> devices = new ArrayList<>();
        MemorySegment found = arena.allocate(ValueLayout.ADDRESS, MAX_DEVICES);
        MemorySegment err = arena.allocate(ERR_LEN);
        for (RpcServer server : servers) {
            if (!CONNECTED.containsKey(server)) {
                server.check();
            }
            MemorySegment endpoint = arena.allocateFrom(server.toString());
            if (qwenvl_rpc_set_reply_timeout(endpoint, (int) replyTimeout.toMillis()) != 0) {
                throw new RpcServerException(server, "cannot be given a reply timeout: this build's RPC backend lacks"
                        + " native/patches/ggml-rpc-connection-lost.patch (rebuild with scripts/build-native.sh)");
            }
            int n = qwenvl_rpc_devices(endpoint, found, MAX_DEVICES, err, ERR_LEN);
            if (n < 0) {
                throw new RpcServerException(server, "cannot be used: " + err.getString(0));
            }
            for (int i = 0; i < Math.min(n, MAX_DEVICES); i++) {
                devices.add(found.getAtIndex(ValueLayout.ADDRESS, i));
            }
        }
        int local = qwenvl_local_model_devices(found, MAX_DEVICES);
        for (int i = 0; i < Math.min(local, MAX_DEVICES); i++) {
            devices.add(found.getAtIndex(ValueLayout.ADDRESS, i));
        }
        MemorySegment list = arena.allocate(ValueLayout.ADDRESS, devices.size() + 1);
        for (int i = 0; i < devices.size(); i++) {
            list.setAtIndex(ValueLayout.ADDRESS, i, devices.get(i));
        }
        list.setAtIndex(ValueLayout.ADDRESS, devices.size(), MemorySegment.NULL);
        return list;
    }

    /**
     * Those of servers whose connection was lost while a model used it: ggml's client then fails every later compute
     * on them. Needs the RPC backend of native/patches/ (without it a lost server aborts the process anyway).
     */
    static List<RpcServer> lost(List<RpcServer> servers) {
        List<RpcServer> lost = new ArrayList<>();
        try (Arena a = Arena.ofConfined()) {
            for (RpcServer server : servers) {
                if (qwenvl_rpc_connection_lost(a.allocateFrom(server.toString())) == 1) {
                    lost.add(server);
                }
            }
        }
        return lost;
    }

    /** A model now holds connections to servers (ggml keeps one per server while its buffers live). */
    static void connected(List<RpcServer> servers) {
        servers.forEach(s -> CONNECTED.merge(s, 1, Integer::sum));
    }

    /** A model that held connections to servers is freed. */
    static void disconnected(List<RpcServer> servers) {
        servers.forEach(s -> CONNECTED.computeIfPresent(s, (k, n) -> n == 1 ? null : n - 1));
    }
}
