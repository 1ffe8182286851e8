package dev.qwenvl.bench;

import dev.qwenvl.testing.Spec;

import dev.qwenvl.ModelOptions;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * What one benchmark run measures: {@code --model tiny|3b|32b --reps N --tokens N --threads N --image WxH --out DIR},
 * {@code --smoke} for one short repetition on the tiny model, or {@code --batched} for the parallel sequences and
 * caches ({@link BatchedBench}).
 *
 * @param model  {@code tiny} (Spec.tiny, F16), {@code 3b} (Spec.realistic3B: Qwen2.5-VL-3B dimensions, Q4_K_M text)
 *               or {@code 32b} (Spec.realistic32B: Qwen2.5-VL-32B dimensions, Q4_K_M written directly, about 21 GB)
 * @param reps   facade and CLI runs each, alternated A B A B
 * @param tokens generated tokens per run (greedy; a random-weight model does not stop early, which is checked)
 * @param imageMaxTokens {@code --image-max-tokens} on both sides (0: libmtmd's default); the memory plan sizes the
 *               vision encoder for the largest image it allows
 * @param contextSize {@code -c} on both sides (default 4096, the CLI's and the facade's default); with
 *               {@code --batched}, tokens of context per sequence (default 1024)
 * @param repack {@code --no-repack} on both sides when false
 * @param flashAttention {@code -fa on} on both sides (default off: the same output for every thread count); the
 *               vision encoder's compute buffers then shrink by gigabytes
 * @param rpc    measure the facade split over two loopback rpc-servers against a local run ({@link RpcBench})
 *               instead of the facade against the CLI
 * @param batched measure parallel sequences and the caches against llama.cpp's tools ({@link BatchedBench})
 * @param out    where the Markdown report and the scratch images go
 */
record BenchOptions(String model, int reps, int tokens, int threads, int imageWidth, int imageHeight,
                    int imageMaxTokens, int contextSize, boolean repack, boolean flashAttention,
                    boolean rpc, boolean batched, boolean smoke, Path out) {
    static final String PROMPT = "Describe the image.";

    static BenchOptions parse(String... args) {
        String model = "tiny";
        int reps = 5;
        int tokens = 16;
        int threads = Math.min(2, Runtime.getRuntime().availableProcessors());
        int w = 640;
        int h = 480;
        int imageMaxTokens = 0;
        int context = 0; // 0: 4096, or 1024 per sequence with --batched
        boolean repack = true;
        boolean flash = false;
        boolean rpc = false;
        boolean smoke = false;
        boolean batched = false;
        Path out = Path.of(System.getProperty("qwenvl.repo", "."), "target", "bench");
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "--smoke" -> smoke = true;
                case "--no-repack" -> repack = false;
                case "--context" -> context = Integer.parseInt(value(args, ++i, a));
                case "--flash-attn" -> flash = true;
                case "--rpc" -> rpc = true;
                case "--batched" -> batched = true;
                case "--model" -> model = value(args, ++i, a);
                case "--reps" -> reps = Integer.parseInt(value(args, ++i, a));
                case "--tokens" -> tokens = Integer.parseInt(value(args, ++i, a));
                case "--threads" -> threads = Integer.parseInt(value(args, ++i, a));
                case "--image-max-tokens" -> imageMaxTokens = Integer.parseInt(value(args, ++i, a));
                case "--out" -> out = Path.of(value(args, ++i, a));
                case "--image" -> {
                    String[] wh = value(args, ++i, a).split("x");
                    w = Integer.parseInt(wh[0]);
                    h = Integer.parseInt(wh[1]);
                }
                default -> throw new IllegalArgumentException("unknown option " + a + "; use --model tiny|3b|32b, --reps N,"
                        + " --tokens N, --threads N, --image WxH, --image-max-tokens N, --context N, --no-repack,"
                        + " --flash-attn, --rpc, --batched, --out DIR, --smoke");
            }
        }
        if (!model.equals("tiny") && !model.equals("3b") && !model.equals("32b")) {
            throw new IllegalArgumentException("--model must be tiny, 3b or 32b, got " + model);
        }
        if (smoke) { // one quick repetition: the point is that every row is produced, not the numbers
            return new BenchOptions("tiny", 1, 4, threads, 64, 48, 0, 4096, true, false, false, false, true, out);
        }
        if (reps < 1 || tokens < 2 || threads < 1 || imageMaxTokens < 0 || (context != 0 && context < 256)) {
            throw new IllegalArgumentException("--reps and --threads need at least 1, --tokens at least 2,"
                    + " --image-max-tokens at least 0, --context at least 256");
        }
        int contextSize = context != 0 ? context : batched ? 1024 : 4096;
        return new BenchOptions(model, reps, tokens, threads, w, h, imageMaxTokens, contextSize, repack, flash, rpc,
                batched, false, out);
    }

    private static String value(String[] args, int i, String option) {
        if (i >= args.length) {
            throw new IllegalArgumentException(option + " needs a value");
        }
        return args[i];
    }

    /** The facade's options for what the CLI is given: threads, flash attention, repacking, the image token bound. */
    ModelOptions modelOptions() {
        ModelOptions o = ModelOptions.defaults().withThreads(threads).withContextSize(contextSize)
                .withRepack(repack).withFlashAttention(
                flashAttention ? ModelOptions.FlashAttention.ENABLED : ModelOptions.FlashAttention.DISABLED);
        return imageMaxTokens > 0 ? o.withImageTokens(0, imageMaxTokens) : o;
    }

    /** The options a child facade run parses back into these (what {@link #modelOptions()} and tokens need). */
    List<String> facadeArgs() {
        List<String> args = new ArrayList<>(List.of("--tokens", Integer.toString(tokens), "--threads",
                Integer.toString(threads), "--context", Integer.toString(contextSize), "--image-max-tokens",
                Integer.toString(imageMaxTokens)));
        if (!repack) {
            args.add("--no-repack");
        }
        if (flashAttention) {
            args.add("--flash-attn");
        }
        return args;
    }

    /** The CLI's arguments beyond ReferenceCli's defaults. */
    List<String> cliArgs() {
        List<String> args = new ArrayList<>(List.of("-t", Integer.toString(threads), "-lv", "4", "-c",
                Integer.toString(contextSize)));
        if (imageMaxTokens > 0) {
            args.addAll(List.of("--image-max-tokens", Integer.toString(imageMaxTokens)));
        }
        if (!repack) {
            args.add("--no-repack");
        }
        if (flashAttention) {
            args.addAll(List.of("-fa", "on")); // after ReferenceCli's -fa off: the last one counts
        }
        return args;
    }

    Spec spec() {
        return switch (model) {
            case "3b" -> Spec.realistic3B();
            case "32b" -> Spec.realistic32B();
            default -> Spec.tiny(Spec.Projector.QWEN25VL);
        };
    }

    /** The command line that reproduces this run. */
    String describe() {
        return smoke ? "scripts/bench.sh --smoke" : "scripts/bench.sh" + (batched ? " --batched" : "") + " --model "
                + model + " --reps " + reps + " --tokens " + tokens + " --threads " + threads + " --image " + imageWidth
                + "x" + imageHeight + (imageMaxTokens > 0 ? " --image-max-tokens " + imageMaxTokens : "")
                + (contextSize != (batched ? 1024 : 4096) ? " --context " + contextSize : "")
                + (repack ? "" : " --no-repack") + (flashAttention ? " --flash-attn" : "");
    }
}
