package dev.qwenvl;

import dev.qwenvl.testing.ModelPair;
import dev.qwenvl.testing.ReferenceCli;
import dev.qwenvl.testing.TestImages;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The text model split over two {@code rpc-server}s built from the same llama.cpp tree, on loopback only: the same
 * greedy answer as a local run; and servers that are down, speak an older protocol or are not rpc-servers at all, in
 * child JVMs (ggml's RPC client would abort the process on each): a typed error naming the server.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class RpcTest {
    private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();
    private static final int READY_ATTEMPTS = 100;
    private static final long READY_WAIT_MS = 100;
    private final List<Process> servers = new ArrayList<>();
    private final List<ServerSocket> fakes = new ArrayList<>();
    private final List<RpcServer> endpoints = new ArrayList<>();

    @BeforeAll
    void startServers() throws IOException, InterruptedException {
        Path bin = Path.of(System.getProperty(ReferenceCli.BIN_PROPERTY), "rpc-server");
        assertTrue(Files.isExecutable(bin), bin + " is built with the native libraries");
        for (int i = 0; i < 2; i++) {
            int port = freePort();
            servers.add(new ProcessBuilder(bin.toString(), "-H", LOOPBACK.getHostAddress(), "-p", Integer.toString(port))
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start());
            endpoints.add(new RpcServer(LOOPBACK.getHostAddress(), port));
        }
        for (RpcServer e : endpoints) {
            awaitListening(e);
        }
    }

    @AfterAll
    void stopServers() throws IOException, InterruptedException {
        for (Process p : servers) {
            p.destroy();
            p.waitFor(10, TimeUnit.SECONDS);
        }
        for (ServerSocket s : fakes) {
            s.close();
        }
    }

    @Test
    void splitOverTwoServersAnswersAsALocalRun(@TempDir Path dir) {
        ModelPair pair = HostileChild.tinyPair();
        Image image = Image.read(TestImages.gradient(dir.resolve("gradient.png"), 320, 240));
        ModelOptions local = ModelOptions.defaults().withThreads(2)
                .withFlashAttention(ModelOptions.FlashAttention.DISABLED);
        String expected = answer(pair, local, image);
        String split = answer(pair, local.withRpcServers(endpoints), image);
        assertEquals(expected, split);
        assertTrue(!split.isEmpty());
    }

    private static String answer(ModelPair pair, ModelOptions options, Image image) {
        try (VisionLanguageModel model = VisionLanguageModel.load(pair.text(), pair.mmproj(), options);
             Conversation chat = model.newConversation()) {
            return chat.ask(Message.of("Describe the image.", image), SamplingOptions.greedy().withMaxTokens(16))
                    .text();
        }
    }

    @Test
    void unusableServersAreTypedErrorsBeforeNativeCodeConnects(@TempDir Path dir) throws IOException {
        int down = freePort();
        int older = fakeServer(ByteBuffer.allocate(8 + 28).order(ByteOrder.LITTLE_ENDIAN).putLong(28)
                .put((byte) 5).put((byte) 0).put((byte) 0).array());
        int notRpc = fakeServer("HTTP/1.1 400 Bad Request\r\n\r\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        int silent = fakeServer(null);
        Map<String, String> expected = new LinkedHashMap<>();
        expected.put("down", "refuses connections");
        expected.put("older", "speaks RPC protocol 5.0.0");
        expected.put("not-rpc", "does not answer as an rpc-server");
        expected.put("silent", "does not answer within");

        Map<String, HostileJvm.Outcome> outcomes = new HostileJvm(dir, 120, "-Xmx256m").run("rpc",
                List.of(Integer.toString(down), Integer.toString(older), Integer.toString(notRpc),
                        Integer.toString(silent)), List.copyOf(expected.keySet()));

        expected.forEach((name, problem) -> {
            HostileJvm.Outcome o = outcomes.get(name);
            assertTrue(o.threw(RpcServerException.class) && o.detail().contains(problem), o.row());
        });
    }

    /** The child's cases: one load through one unusable server each (ports from the parent). */
    static Map<String, HostileChild.Case> cases(List<String> ports) {
        Map<String, HostileChild.Case> cases = new LinkedHashMap<>();
        String[] names = {"down", "older", "not-rpc", "silent"};
        for (int i = 0; i < names.length; i++) {
            RpcServer server = new RpcServer(LOOPBACK.getHostAddress(), Integer.parseInt(ports.get(i)));
            cases.put(names[i], () -> {
                try (VisionLanguageModel m = HostileChild.tinyModel(ModelOptions.defaults().withThreads(1)
                        .withRpcServers(List.of(server)))) {
                    return "loaded through " + server;
                }
            });
        }
        return cases;
    }

    /** A loopback server that answers every connection with {@code reply} and closes it, or (null) never answers. */
    private int fakeServer(byte[] reply) throws IOException {
        ServerSocket socket = new ServerSocket(0, 4, LOOPBACK);
        fakes.add(socket);
        Thread t = new Thread(() -> {
            List<Socket> held = new ArrayList<>();
            while (!socket.isClosed()) {
                try {
                    Socket s = socket.accept();
                    InputStream in = s.getInputStream();
                    in.readNBytes(1 + 8 + 24); // the hello
                    if (reply == null) {
                        held.add(s);
                        continue;
                    }
                    try (s; OutputStream out = s.getOutputStream()) {
                        out.write(reply);
                    }
                } catch (IOException e) {
                    return; // closed by stopServers
                }
            }
        }, "fake-rpc-" + socket.getLocalPort());
        t.setDaemon(true);
        t.start();
        return socket.getLocalPort();
    }

    private static int freePort() throws IOException {
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
}
