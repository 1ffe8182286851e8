package dev.qwenvl;

import dev.qwenvl.bindings.qwenvl_memory_row;
import dev.qwenvl.testing.ModelPair;
import dev.qwenvl.testing.Spec;
import dev.qwenvl.testing.TestImages;
import dev.qwenvl.testing.TinyModels;
import dev.qwenvl.testing.ReferenceCli;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static dev.qwenvl.bindings.qwenvl_h.qwenvl_context_memory;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The memory plan against what llama.cpp then really allocates on the tiny pair (CPU build: everything is host
 * memory), and the refusal of a load that cannot fit, made before anything is allocated.
 */
class MemoryPlanTest {
    private static final Spec TINY = Spec.tiny(Spec.Projector.QWEN25VL);
    /** The tiny text model's KV cache per token in F16: layers x KV heads x head size x (K and V) x 2 bytes. */
    private static final long KV_BYTES_PER_TOKEN = kvBytesPerToken(TINY);
    /** 64 layers of one 64-wide head: 16 KiB of KV cache per token for 45 MB of weights, so a context can outgrow
     *  the machine while llama.cpp's per-cell bookkeeping for it stays small. */
    private static final Spec DEEP = new Spec(Spec.Projector.QWEN25VL, Spec.Weights.F16, 42,
            new Spec.Text(64, 64, 1, 1, 160, 4096, List.of(8, 12, 12, 0)), TINY.vision(), TINY.template());
    private static final long DEEP_KV_BYTES_PER_TOKEN = kvBytesPerToken(DEEP);
    /**
     * The peak's share of the plan: a run touches most of the compute buffers the plan counts, and also holds the
     * image's pixels in Java and in libmtmd's preprocessing, which the plan leaves out (measured: 1.15 here).
     */
    private static final double PEAK_LOW = 0.8;
    private static final double PEAK_HIGH = 1.3;

    private static long kvBytesPerToken(Spec spec) {
        return (long) spec.text().layers() * spec.text().headsKv() * spec.text().headDim() * 2 * 2;
    }

    @Test
    void planEqualsTheBuffersOfARealLoad() {
        ModelPair pair = TinyModels.pair(TINY);
        ModelOptions options = ModelOptions.defaults().withThreads(2).withContextSize(8192);
        MemoryPlan plan = MemoryPlan.of(pair.text(), pair.mmproj(), options);
        MemoryPlan.Device host = plan.devices().getLast();
        assertTrue(host.host(), plan.toString());
        assertEquals(8192 * KV_BYTES_PER_TOKEN, host.kvCache(), "KV cache of 8192 tokens:\n" + plan);

        try (VisionLanguageModel model = VisionLanguageModel.load(pair.text(), pair.mmproj(), options);
             Conversation chat = model.newConversation(); Arena arena = Arena.ofConfined()) {
            MemorySegment rows = qwenvl_memory_row.allocateArray(8, arena);
            int n = qwenvl_context_memory(chat.context(), rows, 8);
            MemorySegment real = qwenvl_memory_row.asSlice(rows, n - 1); // host last
            assertEquals(qwenvl_memory_row.model(real), host.weights(), "weights:\n" + plan);
            assertEquals(qwenvl_memory_row.context(real), host.kvCache(), "KV cache:\n" + plan);
            assertEquals(qwenvl_memory_row.compute(real), host.compute(), "compute buffers:\n" + plan);
        }
    }

    /** llama-mtmd-cli's verbose log of its buffers: the text context's compute, then the vision encoder's warmup. */
    private static final Pattern CLI_BUFFER = Pattern.compile(
            "(sched_reserve|reserve_compute_meta): +CPU compute buffer size = +([0-9.]+) MiB");

    @ParameterizedTest
    @EnumSource(value = ModelOptions.FlashAttention.class, names = {"ENABLED", "DISABLED"})
    void theLoadsComputeBuffersAreWhatLlamaMtmdCliReserves(ModelOptions.FlashAttention fa, @TempDir Path dir) {
        ModelPair pair = TinyModels.pair(TINY);
        ModelOptions options = ModelOptions.defaults().withThreads(2).withContextSize(4096).withFlashAttention(fa);
        MemoryPlan.Device host = MemoryPlan.of(pair.text(), pair.mmproj(), options).devices().getLast();
        String flag = fa == ModelOptions.FlashAttention.ENABLED ? "on" : "off";
        ReferenceCli.Result cli = ReferenceCli.exec(List.of("-m", pair.text().toString(), "--mmproj",
                pair.mmproj().toString(), "--image", TestImages.gradient(dir.resolve("g.png"), 64, 48).toString(),
                "-p", "hi", "-n", "1", "--temp", "0", "-t", "2", "-c", "4096", "-fa", flag, "-v"), "", null);
        assertEquals(0, cli.exitCode(), cli.stderrTail());
        Map<String, Double> mib = new HashMap<>();
        Matcher m = CLI_BUFFER.matcher(cli.stderr());
        while (m.find()) {
            mib.putIfAbsent(m.group(1), Double.parseDouble(m.group(2)));
        }
        assertTrue(cli.stderr().contains("flash attention is " + (fa == ModelOptions.FlashAttention.ENABLED
                ? "enabled" : "disabled")), cli.stderrTail());
        assertEquals(mib.get("sched_reserve"), host.compute() / (double) (1 << 20), 0.006, "text compute");
        assertEquals(mib.get("reserve_compute_meta"), host.visionCompute() / (double) (1 << 20), 0.006,
                "vision compute at the warmup image");
    }

    @Test
    void planCountsEveryConversationsContext() {
        ModelPair pair = TinyModels.pair(TINY);
        ModelOptions options = ModelOptions.defaults().withThreads(2).withContextSize(4096);
        MemoryPlan one = MemoryPlan.of(pair.text(), pair.mmproj(), options);
        MemoryPlan three = MemoryPlan.of(pair.text(), pair.mmproj(), options, 3);
        MemoryPlan.Device a = one.devices().getLast();
        MemoryPlan.Device b = three.devices().getLast();
        assertEquals(a.weights(), b.weights());
        assertEquals(3 * a.kvCache(), b.kvCache());
        assertEquals(3 * a.compute(), b.compute());
        assertEquals(a.mmprojWeights(), b.mmprojWeights());
    }

    @Test
    void parallelSequencesArePlannedAsTheirOneSharedContext() {
        ModelPair pair = TinyModels.pair(TINY);
        ModelOptions options = ModelOptions.defaults().withThreads(2).withContextSize(2048).withParallelSequences(3);
        MemoryPlan plan = MemoryPlan.of(pair.text(), pair.mmproj(), options, 3);
        MemoryPlan.Device host = plan.devices().getLast();
        assertEquals(3 * 2048 * KV_BYTES_PER_TOKEN, host.kvCache(), "three sequences of 2048 tokens:\n" + plan);

        try (VisionLanguageModel model = VisionLanguageModel.load(pair.text(), pair.mmproj(), options);
             Conversation chat = model.newConversation(); Arena arena = Arena.ofConfined()) {
            MemorySegment rows = qwenvl_memory_row.allocateArray(8, arena);
            int n = qwenvl_context_memory(chat.context(), rows, 8); // the shared context every conversation uses
            MemorySegment real = qwenvl_memory_row.asSlice(rows, n - 1);
            assertEquals(qwenvl_memory_row.context(real), host.kvCache(), "KV cache:\n" + plan);
            assertEquals(qwenvl_memory_row.compute(real), host.compute(), "compute buffers:\n" + plan);
        }
    }

    @Test
    void aFileRewrittenInPlaceIsMeasuredAgain(@TempDir Path dir) throws IOException {
        ModelPair tiny = TinyModels.pair(TINY);
        Path text = Files.copy(tiny.text(), dir.resolve("text.gguf"));
        ModelOptions options = ModelOptions.defaults().withThreads(2).withContextSize(4096);
        MemoryPlan before = MemoryPlan.of(text, tiny.mmproj(), options);
        assertEquals(before.devices(), MemoryPlan.of(text, tiny.mmproj(), options).devices().stream()
                .map(d -> withAvailable(d, before.devices().getLast().available())).toList(), "same files, same plan");

        Files.copy(TinyModels.pair(DEEP).text(), text, StandardCopyOption.REPLACE_EXISTING);
        MemoryPlan after = MemoryPlan.of(text, tiny.mmproj(), options);
        assertEquals(4096 * DEEP_KV_BYTES_PER_TOKEN, after.devices().getLast().kvCache(),
                "the deep model's KV cache, not the cached tiny one's:\n" + after);
    }

    /** The device with another reading of the host's free memory, which changes between two plans. */
    private static MemoryPlan.Device withAvailable(MemoryPlan.Device d, long available) {
        return new MemoryPlan.Device(d.name(), d.description(), available, d.total(), d.weights(), d.kvCache(),
                d.compute(), d.mmprojWeights(), d.visionCompute(), d.largestImageCompute(), d.caches());
    }

    @Test
    void peakResidentMemoryOfTheLargestImageIsAboutThePlan(@TempDir Path dir) throws IOException {
        ModelPair pair = TinyModels.pair(TINY);
        // READ keeps the weights resident; a 1900x1900 image is scaled to the 4096-token bound the plan is for;
        // no caches, whose bounds the plan counts but one answer does not fill
        ModelOptions options = ModelOptions.defaults().withThreads(2).withContextSize(8192)
                .withLoadMode(ModelOptions.LoadMode.READ).withImageCacheBytes(0).withPrefixCacheBytes(0);
        MemoryPlan plan = MemoryPlan.of(pair.text(), pair.mmproj(), options);
        Image image = Image.read(TestImages.gradient(dir.resolve("large.png"), 1900, 1900));
        resetPeakResident();
        long before = residentBytes();
        long peak;
        try (VisionLanguageModel model = VisionLanguageModel.load(pair.text(), pair.mmproj(), options);
             Conversation chat = model.newConversation()) {
            Generation g = chat.ask(Message.of("Describe it.", image), SamplingOptions.greedy().withMaxTokens(1));
            assertEquals(plan.imageMaxTokens(), g.stats().imageTokens(), "the image reaches the token bound");
            peak = peakResidentBytes() - before;
        }
        long planned = plan.devices().getLast().neededWithLargestImage();
        double ratio = peak / (double) planned;
        assertTrue(ratio > PEAK_LOW && ratio < PEAK_HIGH, "peak resident memory grew by " + MemoryPlan.bytes(peak)
                + ", the plan said " + MemoryPlan.bytes(planned) + " with the largest image:\n" + plan);
    }

    @Test
    void anImageWhoseBuffersCannotFitIsRefusedBeforeItIsEncoded(@TempDir Path dir) throws IOException {
        ModelPair pair = TinyModels.pair(TINY);
        // without flash attention the encoder holds every head's attention scores: a 16384-token image (3584x3584,
        // 65536 patches) needs 16x the 4096-token one's buffers, far beyond this machine, while the load fits
        ModelOptions options = ModelOptions.defaults().withThreads(2).withContextSize(20480)
                .withFlashAttention(ModelOptions.FlashAttention.DISABLED).withImageTokens(0, 16384);
        MemoryPlan plan = MemoryPlan.of(pair.text(), pair.mmproj(), options);
        MemoryPlan.Device host = plan.devices().getLast();
        assumeTrue(!host.fitsLargestImage(), "this machine has room for the 16384-token image:\n" + plan);
        assertTrue(host.fits(), "the load itself fits:\n" + plan);
        assertTrue(plan.remedies().stream().anyMatch(r -> r.startsWith("host: images above about ")
                && r.contains("--image-max-tokens") && r.contains("-fa on")), plan.toString());

        Image huge = Image.read(TestImages.gradient(dir.resolve("huge.png"), 3584, 3584));
        Image small = Image.read(TestImages.gradient(dir.resolve("small.png"), 64, 48));
        resetPeakResident();
        long before = residentBytes();
        try (VisionLanguageModel model = VisionLanguageModel.load(pair.text(), pair.mmproj(), options);
             Conversation chat = model.newConversation()) {
            ImageException e = assertThrows(ImageException.class, () -> chat.ask(Message.of("Describe it.", huge),
                    SamplingOptions.greedy().withMaxTokens(1)));
            assertTrue(e.getMessage().contains("takes 16384 tokens") && e.getMessage().contains("--image-max-tokens")
                    && e.getMessage().contains("flash attention on"), e.getMessage());
            assertTrue(peakResidentBytes() - before < host.largestImageCompute() / 4,
                    "refused before its buffers were allocated: peak grew by "
                            + MemoryPlan.bytes(peakResidentBytes() - before));
            Generation g = chat.ask(Message.of("Describe it.", small), SamplingOptions.greedy().withMaxTokens(1));
            assertEquals(1, g.stats().generatedTokens(), "the conversation answers the next image");
            assertEquals(2, chat.history().size(), "the refused turn left nothing behind: " + chat.history());
        }
    }

    @Test
    void aContextLargerThanTheMachineIsRefusedBeforeAnyAllocation() throws IOException {
        ModelPair pair = TinyModels.pair(DEEP);
        long total = HostMemory.now().total();
        long tokens = 2 * total / DEEP_KV_BYTES_PER_TOKEN;
        assumeTrue(tokens <= Integer.MAX_VALUE, "this machine's memory is larger than any context can need");
        ModelOptions options = ModelOptions.defaults().withThreads(2).withContextSize((int) tokens);
        resetPeakResident();
        long before = residentBytes();

        InsufficientMemoryException e = assertThrows(InsufficientMemoryException.class,
                () -> VisionLanguageModel.load(pair.text(), pair.mmproj(), options));

        assertTrue(peakResidentBytes() - before < 512L << 20, "the refusal allocated nothing large");
        assertFalse(e.plan().fits());
        long kv = e.plan().devices().getLast().kvCache(); // llama.cpp pads the context to a multiple of 256
        assertTrue(kv >= tokens * DEEP_KV_BYTES_PER_TOKEN && kv < (tokens + 256) * DEEP_KV_BYTES_PER_TOKEN,
                e.getMessage());
        assertTrue(e.getMessage().contains("host needs") && e.getMessage().contains("KV cache")
                && e.getMessage().contains("a smaller context: about") && e.getMessage().contains("-c "),
                e.getMessage());
    }

    @Test
    void theOptOutLoadsWithoutAPlan() {
        ModelPair pair = TinyModels.pair(TINY);
        // 2^31-1 tokens: refused by the plan; without it, llama.cpp itself refuses the context, not the model
        ModelOptions options = ModelOptions.defaults().withThreads(2).withContextSize(Integer.MAX_VALUE)
                .withMemoryCheck(false);
        try (VisionLanguageModel model = VisionLanguageModel.load(pair.text(), pair.mmproj(), options)) {
            assertEquals(Integer.MAX_VALUE, model.options().contextSize());
        }
    }

    private static long residentBytes() throws IOException {
        return status("VmRSS:");
    }

    private static long peakResidentBytes() throws IOException {
        return status("VmHWM:");
    }

    /** Linux: writing 5 to clear_refs resets VmHWM to the current resident size. */
    private static void resetPeakResident() throws IOException {
        Files.writeString(Path.of("/proc/self/clear_refs"), "5");
    }

    private static long status(String key) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith(key)) {
                return Long.parseLong(line.replaceAll("\\D", "")) * 1024;
            }
        }
        throw new IllegalStateException("no " + key + " in /proc/self/status");
    }
}
