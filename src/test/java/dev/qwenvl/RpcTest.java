package dev.qwenvl;

import dev.qwenvl.testing.LocalRpcServers;
import dev.qwenvl.testing.ModelPair;
import dev.qwenvl.testing.Spec;
import dev.qwenvl.testing.TestImages;
import dev.qwenvl.testing.TinyModels;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The text model split over two {@code rpc-server}s built from the same llama.cpp tree, on loopback only: the same
 * greedy answer as a local run; and servers that are down, speak an older protocol or are not rpc-servers at all, or
 * die mid-answer, in child JVMs (ggml's RPC client would abort the process on each): a typed error naming the server.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class RpcTest {
    private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();
    private final List<ServerSocket> fakes = new ArrayList<>();
    private LocalRpcServers servers;
    private List<RpcServer> endpoints;

    @BeforeAll
    void startServers() throws IOException, InterruptedException {
        servers = LocalRpcServers.start(2);
        endpoints = servers.endpoints();
    }

    @AfterAll
    void stopServers() throws IOException, InterruptedException {
        servers.close();
        for (ServerSocket s : fakes) {
            s.close();
        }
    }

    @Test
    void splitOverTwoServersAnswersAsALocalRun(@TempDir Path dir) {
        assertSplitAnswersAsLocal(HostileChild.tinyPair(), dir, ModelOptions.defaults());
    }

    /**
     * The Qwen2.5-VL-3B-sized pair (2 GB of Q4_K_M weights, about a third on each server) split the same way. Opt-in
     * ({@code -Dqwenvl.realistic=true}): its fixture takes minutes to make and the split load moves gigabytes over
     * loopback. Without repacking, whose AMX kernels fault on virtual machines that advertise AMX without enabling it;
     * images bounded to 1024 tokens, for which the plan sizes the vision encoder (4096 would want 18 GiB).
     */
    @Test
    @EnabledIfSystemProperty(named = "qwenvl.realistic", matches = "true")
    void realistic3BPairSplitOverTwoServersAnswersAsALocalRun(@TempDir Path dir) {
        assertSplitAnswersAsLocal(TinyModels.pair(Spec.realistic3B()), dir,
                ModelOptions.defaults().withRepack(false).withImageTokens(0, 1024));
    }

    private void assertSplitAnswersAsLocal(ModelPair pair, Path dir, ModelOptions base) {
        Image image = Image.read(TestImages.gradient(dir.resolve("gradient.png"), 320, 240));
        ModelOptions local = base.withThreads(2).withFlashAttention(ModelOptions.FlashAttention.DISABLED);
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
        int down = LocalRpcServers.freePort();
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

    /**
     * An rpc-server that dies mid-answer (killed at the answer's first piece), under a conversation with a context of
     * its own and under one of a shared context's sequences, and one that hangs there (stopped by SIGSTOP, under a
     * 2 s reply timeout): the answer ends in a typed error naming the server, and the process lives on, answers from
     * a local load of the same files, and refuses a load through the dead or hung server up front. The pinned
     * ggml-rpc client aborted the process on a dead server (exit 134, "Remote RPC server crashed") and waited forever
     * on a hung one; native/patches/ggml-rpc-connection-lost.patch makes it fail the compute instead. In a child JVM.
     */
    @Test
    void aServerDyingMidAnswerIsATypedErrorAndTheProcessLivesOn(@TempDir Path dir) throws Exception {
        try (LocalRpcServers doomed = LocalRpcServers.start(DYING.size())) {
            List<String> args = new ArrayList<>();
            for (int i = 0; i < DYING.size(); i++) {
                args.add(Integer.toString(doomed.endpoints().get(i).port()));
                args.add(Long.toString(doomed.processes().get(i).pid()));
            }
            Map<String, HostileJvm.Outcome> outcomes = new HostileJvm(dir, 120, "-Xmx256m").run("rpc-dies", args,
                    DYING);
            int i = 0;
            for (String name : DYING) {
                HostileJvm.Outcome o = outcomes.get(name);
                assertTrue(o.threw(GenerationException.class) && o.detail().contains("the rpc-server at "
                        + doomed.endpoints().get(i++) + " stopped answering"), o.row());
            }
        }
    }

    /**
     * The dying cases: a model of one sequence (a context of its own), of two (a shared context), and of one whose
     * server hangs instead of dying.
     */
    private static final List<String> DYING = List.of("own-context", "shared-context", "hung");

    /**
     * The child's cases: an answer whose rpc-server (a port and pid from the parent for each case) is killed at its
     * first piece; then a local answer and a load through the dead server, before the answer's error is rethrown.
     */
    static Map<String, HostileChild.Case> dyingCases(List<String> args) {
        Map<String, HostileChild.Case> cases = new LinkedHashMap<>();
        for (int i = 0; i < DYING.size(); i++) {
            RpcServer server = new RpcServer(LOOPBACK.getHostAddress(), Integer.parseInt(args.get(2 * i)));
            ProcessHandle process = ProcessHandle.of(Long.parseLong(args.get(2 * i + 1))).orElseThrow();
            int sequences = i == 1 ? 2 : 1;
            boolean hangs = DYING.get(i).equals("hung");
            cases.put(DYING.get(i), () -> dyingMidAnswer(server, process, sequences, hangs));
        }
        return cases;
    }

    private static String dyingMidAnswer(RpcServer server, ProcessHandle process, int sequences, boolean hangs)
            throws Exception {
        SamplingOptions greedy = SamplingOptions.greedy().withMaxTokens(16);
        ModelOptions local = ModelOptions.defaults().withThreads(1).withParallelSequences(sequences);
        ModelOptions split = local.withRpcServers(List.of(server)).withRpcReplyTimeout(Duration.ofSeconds(2));
        GenerationException failure;
        try (VisionLanguageModel m = HostileChild.tinyModel(split); Conversation chat = m.newConversation()) {
            Generation g = chat.ask(Message.of("Describe the sky."), greedy, piece -> end(process, hangs));
            return "answered '" + g.text() + "' although its rpc-server died";
        } catch (GenerationException e) {
            failure = e;
        }
        try (VisionLanguageModel m = HostileChild.tinyModel(local); Conversation chat = m.newConversation()) {
            if (chat.ask(Message.of("Describe the sky."), greedy).stats().generatedTokens() == 0) {
                return "a local load answered nothing after the rpc-server died";
            }
        }
        try (VisionLanguageModel again = HostileChild.tinyModel(split)) {
            return "loaded through the dead rpc-server " + server + " (" + again + ")";
        } catch (RpcServerException e) {
            if (!e.getMessage().contains(hangs ? "does not answer within" : "refuses connections")) {
                return "a load through the dead rpc-server failed otherwise: " + e.getMessage();
            }
        }
        throw failure;
    }

    private static void end(ProcessHandle process, boolean hang) {
        if (hang) {
            stop(process);
        } else {
            kill(process);
        }
    }

    /** Stops the process (SIGSTOP): it keeps its sockets open and answers nothing, as a hung server does. */
    private static void stop(ProcessHandle process) {
        try {
            Process kill = new ProcessBuilder("kill", "-STOP", Long.toString(process.pid())).start();
            if (!kill.waitFor(10, TimeUnit.SECONDS) || kill.exitValue() != 0) {
                throw new IllegalStateException("kill -STOP " + process.pid() + " failed");
            }
        } catch (IOException | InterruptedException e) {
            throw new IllegalStateException("cannot stop rpc-server " + process.pid(), e);
        }
    }

    private static void kill(ProcessHandle process) {
        if (process.isAlive()) {
            process.destroyForcibly();
            try {
                process.onExit().get(10, TimeUnit.SECONDS);
            } catch (Exception e) {
                throw new IllegalStateException("rpc-server " + process.pid() + " did not exit", e);
            }
        }
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
}
