package dev.qwenvl.bench;

import dev.qwenvl.BenchAccess;
import dev.qwenvl.Conversation;
import dev.qwenvl.Generation;
import dev.qwenvl.GenerationStats;
import dev.qwenvl.Image;
import dev.qwenvl.Message;
import dev.qwenvl.RpcServer;
import dev.qwenvl.SamplingOptions;
import dev.qwenvl.StopReason;
import dev.qwenvl.VisionLanguageModel;
import dev.qwenvl.testing.ModelPair;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * One facade repetition, in its own JVM: load, ask about one image with greedy decoding, close — what
 * {@code llama-mtmd-cli -m M --mmproj P --image I -p PROMPT -n N --temp 0 -fa off -t T} (plus
 * {@link BenchOptions#cliArgs()}) does.
 *
 * <p>Arguments: text mmproj image answerFile rpcServers, then {@link BenchOptions#facadeArgs()}. The answer's text
 * is written to answerFile; rpcServers is {@code host:port,host:port} to split the text model over, or {@code -}. The
 * image is handed over as file bytes ({@link Image#encoded}) so both
 * sides decode it with stb_image and encode identical pixels; Java decoding is measured in {@link Probes}.
 *
 * <p>Also reported: the generation time spent outside llama_decode and sampling over the whole ask, in this fresh JVM
 * (sampler chain creation and first-call linking included; {@link Probes} gives the steady-state share per token).
 * Decode time is llama.cpp's t_eval counter, the one the CLI prints; sampling is timed after the run on the last
 * logits with the same chain.
 */
public final class FacadeRun {
    private static final int SAMPLE_CALLS = 21;

    private FacadeRun() {
    }

    /** One repetition in a fresh JVM (stderr to {@code name.stderr} in the output folder), with its peak RSS. */
    static Results inChild(BenchOptions o, ModelPair pair, Path image, Path answer, List<RpcServer> rpc, String name) {
        List<String> args = new ArrayList<>(List.of(pair.text().toString(), pair.mmproj().toString(),
                image.toString(), answer.toString(), rpc.isEmpty() ? "-"
                        : String.join(",", rpc.stream().map(r -> r.host() + ":" + r.port()).toList())));
        args.addAll(o.facadeArgs());
        try (PeakRss rss = new PeakRss()) {
            return ChildJvm.run(FacadeRun.class, o.out().resolve(name + ".stderr"), args)
                    .put("peak_rss_bytes", rss.peakBytes());
        }
    }

    public static void main(String[] args) {
        Path text = Path.of(args[0]);
        Path mmproj = Path.of(args[1]);
        Path imageFile = Path.of(args[2]);
        Path answerFile = Path.of(args[3]);
        List<RpcServer> rpc = args[4].equals("-") ? List.of()
                : Arrays.stream(args[4].split(",")).map(RpcServer::parse).toList();
        BenchOptions o = BenchOptions.parse(Arrays.copyOfRange(args, 5, args.length));
        SamplingOptions greedy = SamplingOptions.greedy().withMaxTokens(o.tokens());

        long t0 = System.nanoTime();
        VisionLanguageModel model = VisionLanguageModel.load(text, mmproj, o.modelOptions().withRpcServers(rpc));
        Conversation chat = model.newConversation();
        long loaded = System.nanoTime();
        Generation answer = chat.ask(Message.of(BenchOptions.PROMPT, Image.encoded(imageFile)), greedy);
        long answered = System.nanoTime();
        BenchAccess.Perf perf = BenchAccess.perf(chat);
        long sampleNanos = BenchAccess.sampleNanos(chat, greedy, SAMPLE_CALLS); // after the timed part
        long closing = System.nanoTime();
        chat.close();
        model.close();
        long closed = System.nanoTime();

        try {
            Files.writeString(answerFile, answer.text());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the answer to " + answerFile, e);
        }
        GenerationStats s = answer.stats();
        int n = s.generatedTokens();
        double genWallMs = s.generationTime().toNanos() / 1e6;
        double decodeMsPerToken = perf.evalMs() / perf.evalRuns();
        new Results()
                .put("load_ms", (loaded - t0) / 1e6)
                .put("encode_ms", s.imageEncodeTime().toNanos() / 1e6)
                .put("prompt_tokens", perf.promptEvalTokens())
                .put("prompt_ms", perf.promptEvalMs())
                .put("prompt_wall_ms", s.promptEvalTime().toNanos() / 1e6)
                .put("gen_tokens", n)
                .put("gen_full", answer.stopReason() == StopReason.MAX_TOKENS ? 1 : 0)
                .put("gen_runs", perf.evalRuns())
                .put("gen_eval_ms", perf.evalMs())
                .put("gen_wall_ms", genWallMs)
                .put("sample_us", sampleNanos / 1e3)
                .put("gen_outside_ms", genWallMs - n * (decodeMsPerToken + sampleNanos / 1e6))
                .put("inproc_ms", (answered - t0 + closed - closing) / 1e6)
                .emit();
    }
}
