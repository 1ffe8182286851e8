package dev.qwenvl.bench;

import com.sun.management.ThreadMXBean;
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

import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

/**
 * The parallel-sequence measurements, in one fresh JVM and one model of {@code max(sequences)} parallel sequences:
 * for each N, N conversations on N threads generate together (greedy, text-only); once every one has its first piece
 * they pass a barrier, llama.cpp's counters are zeroed, and the rest is timed: total generated tokens per second, and
 * the wall time left after llama_decode (llama.cpp's counters) and sampling (the chain timed on the last logits),
 * per decoded token, with the heap the N threads allocated per token. Then the times to the first piece of: a
 * question about an image never seen (cold), a follow-up in the same conversation, and a new conversation about the
 * same image (its image and prefix caches warm). The first answer is written to {@code answer.txt} for the CLI rerun.
 *
 * <p>Arguments: text mmproj image threads contextSize tokens sequences(comma-separated) workdir.
 */
public final class BatchedRun {
    static final String FIRST = "Describe the image.";
    static final String FOLLOW_UP = "And what colour is its top left corner?";
    static final String AGAIN = "Is there any text in the image?";
    /** Both sides' bound on tokens per image: the vision compute buffer is sized for it (GiBs at the default). */
    static final int IMAGE_MAX_TOKENS = 512;
    private static final int SAMPLE_CALLS = 21;

    private BatchedRun() {
    }

    public static void main(String[] args) throws Exception {
        Path text = Path.of(args[0]);
        Path mmproj = Path.of(args[1]);
        Path image = Path.of(args[2]);
        int threads = Integer.parseInt(args[3]);
        int ctx = Integer.parseInt(args[4]);
        int tokens = Integer.parseInt(args[5]);
        int[] sequences = Stream.of(args[6].split(",")).mapToInt(Integer::parseInt).toArray();
        Path work = Path.of(args[7]);
        int max = java.util.Arrays.stream(sequences).max().orElseThrow();
        Results out = new Results();
        try (VisionLanguageModel model = VisionLanguageModel.load(text, mmproj, ModelOptions.defaults()
                .withThreads(threads).withContextSize(ctx).withParallelSequences(max)
                .withImageTokens(0, IMAGE_MAX_TOKENS).withFlashAttention(ModelOptions.FlashAttention.DISABLED))) {
            together(model, 1, Math.min(tokens, 4), null); // warm-up: class loading, JIT
            for (int n : sequences) {
                together(model, n, tokens, out);
            }
            firstPieces(model, Image.encoded(image), tokens, work, out);
        }
        out.emit();
    }

    private static void together(VisionLanguageModel model, int n, int tokens, Results out) throws Exception {
        SamplingOptions greedy = SamplingOptions.greedy().withMaxTokens(tokens);
        List<Conversation> chats = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            chats.add(model.newConversation());
        }
        AtomicLong start = new AtomicLong();
        AtomicLong sample = new AtomicLong();
        CyclicBarrier barrier = new CyclicBarrier(n, () -> { // no decode runs here: every sequence waits
            sample.set(BenchAccess.sampleNanos(chats.getFirst(), greedy, SAMPLE_CALLS)); // the last logits have rows
            BenchAccess.resetPerf(chats.getFirst());
            start.set(System.nanoTime());
        });
        ThreadMXBean mx = (ThreadMXBean) ManagementFactory.getThreadMXBean();
        long[] allocated = new long[n];
        long[] ended = new long[n];
        Generation[] answers = new Generation[n];
        List<Thread> workers = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int id = i;
            workers.add(Thread.ofPlatform().start(() -> {
                long[] from = {-1};
                answers[id] = chats.get(id).ask(Message.of("Question " + (id + 1) + ": what is a gradient?"),
                        greedy, piece -> {
                            if (from[0] < 0) {
                                await(barrier);
                                from[0] = mx.getCurrentThreadAllocatedBytes();
                            }
                        });
                ended[id] = System.nanoTime();
                allocated[id] = mx.getCurrentThreadAllocatedBytes() - from[0];
            }));
        }
        for (Thread t : workers) {
            t.join(600_000);
        }
        BenchAccess.Perf perf = BenchAccess.perf(chats.getFirst());
        long sampleNanos = sample.get();
        chats.forEach(Conversation::close);
        if (out == null) {
            return;
        }
        long end = 0;
        long bytes = 0;
        boolean full = true;
        for (int i = 0; i < n; i++) {
            end = Math.max(end, ended[i]);
            bytes += allocated[i];
            full &= answers[i].stopReason() == StopReason.MAX_TOKENS && answers[i].stats().generatedTokens() == tokens;
        }
        int decoded = perf.evalRuns() + perf.promptEvalTokens(); // a round of several rows counts as prompt eval
        double wallMs = (end - start.get()) / 1e6;
        double outsideMs = wallMs - perf.evalMs() - perf.promptEvalMs() - (decoded - n) * sampleNanos / 1e6;
        String k = "n" + n + "_";
        out.put(k + "tokens_per_s", decoded / wallMs * 1e3)
                .put(k + "decoded", decoded)
                .put(k + "full", full ? 1 : 0)
                .put(k + "prompt_tokens", answers[0].stats().promptTokens())
                .put(k + "sample_us", sampleNanos / 1e3)
                .put(k + "outside_us_per_token", outsideMs * 1e3 / decoded)
                .put(k + "alloc_bytes_per_token", (double) bytes / decoded);
    }

    private static void firstPieces(VisionLanguageModel model, Image image, int tokens, Path work, Results out)
            throws Exception {
        SamplingOptions greedy = SamplingOptions.greedy().withMaxTokens(tokens);
        try (Conversation chat = model.newConversation()) {
            StringBuilder answer = new StringBuilder();
            out.put("ttft_cold_ms", firstPiece(chat, Message.of(FIRST, image), greedy, answer, out, "cold"));
            Files.writeString(work.resolve("answer.txt"), answer);
            out.put("ttft_followup_ms", firstPiece(chat, Message.of(FOLLOW_UP), greedy, new StringBuilder(), out,
                    "followup"));
        } // closed: its cells go to the prefix cache, its image embedding is in the image cache
        try (Conversation chat = model.newConversation()) {
            out.put("ttft_cached_ms", firstPiece(chat, Message.of(AGAIN, image), greedy, new StringBuilder(), out,
                    "cached"));
        }
    }

    /**
     * Milliseconds from asking to the first piece of the answer, and in {@code out} under {@code key} the prompt's
     * tokens, those taken from the prefix cache, and the milliseconds of image encoding and prompt evaluation (where
     * the time to the first piece went).
     */
    private static double firstPiece(Conversation chat, Message m, SamplingOptions s, StringBuilder answer,
                                     Results out, String key) {
        long t0 = System.nanoTime();
        long[] first = {-1};
        Generation g = chat.ask(m, s, piece -> {
            if (first[0] < 0) {
                first[0] = System.nanoTime();
            }
        });
        answer.append(g.text());
        GenerationStats st = g.stats();
        out.put(key + "_prompt_tokens", st.promptTokens() + st.imageTokens())
                .put(key + "_cached_tokens", st.cachedTokens())
                .put(key + "_encode_ms", st.imageEncodeTime().toNanos() / 1e6)
                .put(key + "_prompt_eval_ms", st.promptEvalTime().toNanos() / 1e6);
        return (first[0] - t0) / 1e6;
    }

    private static void await(CyclicBarrier barrier) {
        try {
            barrier.await();
        } catch (Exception e) {
            throw new IllegalStateException("the sequences did not all start", e);
        }
    }
}
