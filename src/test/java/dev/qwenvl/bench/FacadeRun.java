package dev.qwenvl.bench;

import dev.qwenvl.BenchAccess;
import dev.qwenvl.Conversation;
import dev.qwenvl.Generation;
import dev.qwenvl.GenerationStats;
import dev.qwenvl.Image;
import dev.qwenvl.Message;
import dev.qwenvl.ModelOptions;
import dev.qwenvl.SamplingOptions;
import dev.qwenvl.StopReason;
import dev.qwenvl.VisionLanguageModel;

import java.nio.file.Path;

/**
 * One facade repetition, in its own JVM: load, ask about one image with greedy decoding, close — what
 * {@code llama-mtmd-cli -m M --mmproj P --image I -p PROMPT -n N --temp 0 -fa off -t T} does.
 *
 * <p>Arguments: text mmproj image tokens threads. The image is handed over as file bytes ({@link Image#encoded}) so
 * both sides decode it with stb_image and encode identical pixels; Java decoding is measured in {@link Probes}.
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

    public static void main(String[] args) {
        Path text = Path.of(args[0]);
        Path mmproj = Path.of(args[1]);
        Path imageFile = Path.of(args[2]);
        int tokens = Integer.parseInt(args[3]);
        int threads = Integer.parseInt(args[4]);
        SamplingOptions greedy = SamplingOptions.greedy().withMaxTokens(tokens);

        long t0 = System.nanoTime();
        VisionLanguageModel model = VisionLanguageModel.load(text, mmproj, ModelOptions.defaults().withThreads(threads)
                .withFlashAttention(ModelOptions.FlashAttention.DISABLED));
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
