package dev.qwenvl.bench;

import com.sun.management.ThreadMXBean;
import dev.qwenvl.BenchAccess;
import dev.qwenvl.Conversation;
import dev.qwenvl.Generation;
import dev.qwenvl.ImageDecoder;
import dev.qwenvl.Message;
import dev.qwenvl.ModelOptions;
import dev.qwenvl.SamplingOptions;
import dev.qwenvl.StopReason;
import dev.qwenvl.VisionLanguageModel;
import dev.qwenvl.bindings.gguf_init_params;
import dev.qwenvl.bindings.mtmd_helper_bitmap_wrapper;
import dev.qwenvl.testing.TestImages;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.CyclicBarrier;
import java.util.function.LongSupplier;
import javax.imageio.ImageIO;

import static dev.qwenvl.bindings.qwenvl_h.gguf_free;
import static dev.qwenvl.bindings.qwenvl_h.gguf_get_n_tensors;
import static dev.qwenvl.bindings.qwenvl_h.gguf_get_tensor_name;
import static dev.qwenvl.bindings.qwenvl_h.gguf_get_tensor_size;
import static dev.qwenvl.bindings.qwenvl_h.gguf_init_from_file;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_bitmap_free;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_helper_bitmap_init_from_buf;
import static dev.qwenvl.bindings.qwenvl_h.mtmd_helper_init_opt_default;

/**
 * The measurements that need no llama-mtmd-cli counterpart, in one fresh JVM: the Java time and heap allocated per
 * generated token in steady state, Java image decoding against stb_image, memory bandwidth, and the text model's
 * bytes read per token.
 *
 * <p>The per-token Java work (downcalls, piece conversion, UTF-8 assembly, stop strings) does not depend on the
 * model's size, so it is measured on the tiny pair with one thread, where a decode takes about a millisecond and
 * does not wait on a thread pool: the residual left after subtracting llama_decode and sampling is then not buried
 * in decode-time noise. Two asks differing only in their token count are subtracted, which removes everything done
 * once per ask (sampler chain creation, first-call linking of downcalls).
 *
 * <p>Arguments: tinyText tinyMmproj weightsText threads workdir shortTokens longTokens iterations bandwidthMiB pairs.
 */
public final class Probes {
    static final int[][] IMAGE_SIZES = {{640, 480}, {1920, 1080}};
    static final String[] IMAGE_FORMATS = {"png", "jpg"};
    private static final int SAMPLE_CALLS = 51;

    private Probes() {
    }

    public static void main(String[] args) throws Exception {
        Path text = Path.of(args[0]);
        Path mmproj = Path.of(args[1]);
        Path weights = Path.of(args[2]);
        int threads = Integer.parseInt(args[3]);
        Path work = Path.of(args[4]);
        int shortTokens = Integer.parseInt(args[5]);
        int longTokens = Integer.parseInt(args[6]);
        int iterations = Integer.parseInt(args[7]);
        int bandwidthMiB = Integer.parseInt(args[8]);
        int pairs = Integer.parseInt(args[9]);
        Results results = new Results();
        try (VisionLanguageModel model = VisionLanguageModel.load(text, mmproj, ModelOptions.defaults()
                .withThreads(1).withFlashAttention(ModelOptions.FlashAttention.DISABLED))) {
            perToken(model, shortTokens, longTokens, pairs, results);
            imageDecoding(model, work, iterations, results);
        }
        weightBytes(weights, results);
        results.put("bandwidth_gbs", bandwidth(bandwidthMiB, threads));
        results.emit();
    }

    /** One ask's generation: heap bytes the asking thread allocated, and its time outside decode and sampling. */
    private record Ask(int tokens, long allocated, double residualMs) {
    }

    private static void perToken(VisionLanguageModel model, int shortTokens, int longTokens, int pairs,
                                 Results out) {
        ThreadMXBean threads = (ThreadMXBean) ManagementFactory.getThreadMXBean();
        ask(model, longTokens, threads); // warm-up: class loading, JIT
        double[] bytes = new double[pairs];
        double[] micros = new double[pairs];
        for (int i = 0; i < pairs; i++) { // medians of several pairs: a busy machine preempts single asks
            Ask a = ask(model, shortTokens, threads);
            Ask b = ask(model, longTokens, threads);
            bytes[i] = (b.allocated() - a.allocated()) / (double) (longTokens - shortTokens);
            micros[i] = (b.residualMs() - a.residualMs()) * 1e3 / (longTokens - shortTokens);
        }
        out.put("alloc_bytes_per_token", median(bytes));
        out.put("java_us_per_token", median(micros));
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }

    /**
     * Generation wall time minus llama_decode time (llama.cpp's t_eval over its counted runs, the last decode, which
     * it does not count, taken at their mean) minus sampling time (the same chain timed on the final logits).
     */
    private static Ask ask(VisionLanguageModel model, int tokens, ThreadMXBean threads) {
        SamplingOptions greedy = SamplingOptions.greedy().withMaxTokens(tokens);
        try (Conversation chat = model.newConversation()) {
            long before = threads.getCurrentThreadAllocatedBytes();
            Generation g = chat.ask(Message.of(BenchOptions.PROMPT), greedy);
            long after = threads.getCurrentThreadAllocatedBytes();
            if (g.stopReason() != StopReason.MAX_TOKENS) {
                throw new IllegalStateException("the per-token probe needs " + tokens + " tokens but generation"
                        + " stopped after " + g.stats().generatedTokens() + ": " + g.stopReason());
            }
            BenchAccess.Perf perf = BenchAccess.perf(chat);
            double sampleMs = BenchAccess.sampleNanos(chat, greedy, SAMPLE_CALLS) / 1e6;
            double decodeMs = perf.evalMs() / perf.evalRuns();
            double residual = g.stats().generationTime().toNanos() / 1e6 - tokens * (decodeMs + sampleMs);
            return new Ask(tokens, after - before, residual);
        }
    }

    /** Median ms of ImageDecoder (decode + conversion to RGB) and of stb_image through libmtmd, per image file. */
    private static void imageDecoding(VisionLanguageModel model, Path work, int iterations, Results out)
            throws IOException {
        MemorySegment vision = BenchAccess.vision(model);
        for (int[] size : IMAGE_SIZES) {
            Path png = TestImages.gradient(work.resolve("probe-" + size[0] + "x" + size[1] + ".png"), size[0], size[1]);
            Path jpg = work.resolve("probe-" + size[0] + "x" + size[1] + ".jpg");
            BufferedImage pixels = ImageIO.read(png.toFile());
            if (!ImageIO.write(pixels, "jpg", jpg.toFile())) {
                throw new IllegalStateException("no JPEG writer in this JDK");
            }
            for (String format : IMAGE_FORMATS) {
                byte[] bytes = Files.readAllBytes(format.equals("png") ? png : jpg);
                String key = format + "_" + size[0] + "x" + size[1];
                out.put("java_decode_ms_" + key, medianMs(iterations, () -> {
                    long t0 = System.nanoTime();
                    ImageDecoder.defaults().decode(bytes);
                    return System.nanoTime() - t0;
                }));
                out.put("stb_decode_ms_" + key, medianMs(iterations, () -> stbNanos(vision, bytes)));
            }
        }
    }

    private static long stbNanos(MemorySegment vision, byte[] bytes) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocateFrom(ValueLayout.JAVA_BYTE, bytes); // the copy Prefill makes too
            long t0 = System.nanoTime();
            MemorySegment wrapper = mtmd_helper_bitmap_init_from_buf(arena, vision, buf, bytes.length, false,
                    mtmd_helper_init_opt_default(arena));
            MemorySegment bitmap = mtmd_helper_bitmap_wrapper.bitmap(wrapper);
            long took = System.nanoTime() - t0;
            if (bitmap.address() == 0) {
                throw new IllegalStateException("stb_image could not decode a probe image");
            }
            mtmd_bitmap_free(bitmap);
            return took;
        }
    }

    /** Median of {@code iterations} timed runs after as many untimed ones (JIT warm-up). */
    private static double medianMs(int iterations, LongSupplier nanos) {
        for (int i = 0; i < iterations; i++) {
            nanos.getAsLong();
        }
        long[] t = new long[iterations];
        for (int i = 0; i < iterations; i++) {
            t[i] = nanos.getAsLong();
        }
        Arrays.sort(t);
        return t[iterations / 2] / 1e6;
    }

    /**
     * Bytes llama_decode streams per generated token: every tensor of the text GGUF except token_embd, of which it
     * reads one row (left out, about a kilobyte). The KV cache read is not counted.
     */
    private static void weightBytes(Path text, Results out) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment params = gguf_init_params.allocate(arena);
            gguf_init_params.no_alloc(params, true);
            gguf_init_params.ctx(params, MemorySegment.NULL);
            MemorySegment gguf = gguf_init_from_file(arena.allocateFrom(text.toString()), params);
            if (gguf.address() == 0) {
                throw new IllegalStateException("gguf_init_from_file failed on " + text);
            }
            try {
                long total = 0;
                long embedding = 0;
                for (long i = 0; i < gguf_get_n_tensors(gguf); i++) {
                    long size = gguf_get_tensor_size(gguf, i);
                    total += size;
                    if (gguf_get_tensor_name(gguf, i).getString(0).equals("token_embd.weight")) {
                        embedding = size;
                    }
                }
                out.put("weight_bytes_per_token", total - embedding);
            } finally {
                gguf_free(gguf);
            }
        }
    }

    /** Read bandwidth in GB/s: {@code threads} threads each summing its own long[] share, best of five passes. */
    private static double bandwidth(int mib, int threads) throws Exception {
        long[][] shares = new long[threads][(int) ((long) mib * 1024 * 1024 / 8 / threads)];
        for (long[] share : shares) {
            Arrays.fill(share, 1); // touch every page before timing
        }
        long[] sink = new long[threads];
        CyclicBarrier start = new CyclicBarrier(threads + 1);
        CyclicBarrier end = new CyclicBarrier(threads + 1);
        Thread[] workers = new Thread[threads];
        int passes = 6;
        for (int w = 0; w < threads; w++) {
            int id = w;
            workers[w] = Thread.ofPlatform().daemon().start(() -> {
                try {
                    for (int p = 0; p < passes; p++) {
                        start.await();
                        long s = 0;
                        for (long v : shares[id]) {
                            s += v;
                        }
                        sink[id] += s;
                        end.await();
                    }
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
        }
        double best = 0;
        for (int p = 0; p < passes; p++) {
            start.await();
            long t0 = System.nanoTime();
            end.await();
            long took = System.nanoTime() - t0;
            if (p > 0) { // the first pass compiles the loop
                best = Math.max(best, (double) mib * 1024 * 1024 / took);
            }
        }
        for (Thread t : workers) {
            t.join();
        }
        if (Arrays.stream(sink).sum() != (long) passes * threads * shares[0].length) {
            throw new IllegalStateException("bandwidth probe summed the wrong total");
        }
        return best;
    }
}
