package dev.qwenvl.testing;

import dev.qwenvl.RpcServer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * {@code rpc-server} processes from the same llama.cpp build ({@value ReferenceCli#BIN_PROPERTY}), on loopback only,
 * each on a free port, started and waited for (bounded) until they accept connections; closing stops them.
 */
public final class LocalRpcServers implements AutoCloseable {
    private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();
    private static final int READY_ATTEMPTS = 100;
    private static final long READY_WAIT_MS = 100;
    private final List<Process> processes = new ArrayList<>();
    private final List<RpcServer> endpoints = new ArrayList<>();

    private LocalRpcServers() {
    }

    /** Starts {@code n} servers; their output is discarded. */
    public static LocalRpcServers start(int n) throws IOException, InterruptedException {
        Path bin = Path.of(System.getProperty(ReferenceCli.BIN_PROPERTY), "rpc-server");
        if (!Files.isExecutable(bin)) {
            throw new IllegalStateException(bin + " is missing: rpc-server is built with the native libraries");
        }
        LocalRpcServers servers = new LocalRpcServers();
        try {
            for (int i = 0; i < n; i++) {
                int port = freePort();
                servers.processes.add(new ProcessBuilder(bin.toString(), "-H", LOOPBACK.getHostAddress(), "-p",
                        Integer.toString(port)).redirectErrorStream(true)
                        .redirectOutput(ProcessBuilder.Redirect.DISCARD).start());
                servers.endpoints.add(new RpcServer(LOOPBACK.getHostAddress(), port));
            }
            for (RpcServer e : servers.endpoints) {
                awaitListening(e);
            }
            return servers;
        } catch (IOException | InterruptedException | RuntimeException e) {
            servers.close();
            throw e;
        }
    }

    public List<RpcServer> endpoints() {
        return List.copyOf(endpoints);
    }

    /** The server processes, in the order of {@link #endpoints()}. */
    public List<Process> processes() {
        return List.copyOf(processes);
    }

    /** A loopback port nothing listens on right now. */
    public static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, LOOPBACK)) {
            return s.getLocalPort();
        }
    }

    /** Waits, bounded, until the server accepts a connection (it serves one client, then the next). */
    private static void awaitListening(RpcServer server) throws InterruptedException {
        for (int i = 0; i < READY_ATTEMPTS; i++) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress(server.host(), server.port()), 1000);
                return;
            } catch (IOException e) {
                Thread.sleep(READY_WAIT_MS);
            }
        }
        throw new UncheckedIOException(new IOException("rpc-server at " + server + " did not start listening"));
    }

    @Override
    public void close() throws InterruptedException {
        for (Process p : processes) {
            p.destroy();
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        }
    }
}
