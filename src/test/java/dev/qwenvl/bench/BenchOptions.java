package dev.qwenvl.bench;

import dev.qwenvl.testing.Spec;

import java.nio.file.Path;

/**
 * What one benchmark run measures: {@code --model tiny|3b --reps N --tokens N --threads N --image WxH --out DIR},
 * {@code --smoke} for one short repetition on the tiny model, or {@code --batched [--ctx N]} for the parallel
 * sequences and caches ({@link BatchedBench}).
 *
 * @param model  {@code tiny} (Spec.tiny, F16) or {@code 3b} (Spec.realistic3B: Qwen2.5-VL-3B dimensions, Q4_K_M text)
 * @param reps   facade and CLI runs each, alternated A B A B
 * @param tokens generated tokens per run (greedy; a random-weight model does not stop early, which is checked)
 * @param out    where the Markdown report and the scratch images go
 * @param contextSize tokens of context per sequence in the batched mode, on both sides
 */
record BenchOptions(String model, int reps, int tokens, int threads, int imageWidth, int imageHeight, boolean smoke,
                    Path out, boolean batched, int contextSize) {
    static final String PROMPT = "Describe the image.";

    static BenchOptions parse(String... args) {
        String model = "tiny";
        int reps = 5;
        int tokens = 16;
        int threads = Math.min(2, Runtime.getRuntime().availableProcessors());
        int w = 640;
        int h = 480;
        boolean smoke = false;
        boolean batched = false;
        int ctx = 1024;
        Path out = Path.of(System.getProperty("qwenvl.repo", "."), "target", "bench");
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "--smoke" -> smoke = true;
                case "--batched" -> batched = true;
                case "--ctx" -> ctx = Integer.parseInt(value(args, ++i, a));
                case "--model" -> model = value(args, ++i, a);
                case "--reps" -> reps = Integer.parseInt(value(args, ++i, a));
                case "--tokens" -> tokens = Integer.parseInt(value(args, ++i, a));
                case "--threads" -> threads = Integer.parseInt(value(args, ++i, a));
                case "--out" -> out = Path.of(value(args, ++i, a));
                case "--image" -> {
                    String[] wh = value(args, ++i, a).split("x");
                    w = Integer.parseInt(wh[0]);
                    h = Integer.parseInt(wh[1]);
                }
                default -> throw new IllegalArgumentException("unknown option " + a + "; use --model tiny|3b, --reps N,"
                        + " --tokens N, --threads N, --image WxH, --out DIR, --smoke, --batched, --ctx N");
            }
        }
        if (!model.equals("tiny") && !model.equals("3b")) {
            throw new IllegalArgumentException("--model must be tiny or 3b, got " + model);
        }
        if (smoke) { // one quick repetition: the point is that every row is produced, not the numbers
            return new BenchOptions("tiny", 1, 4, threads, 64, 48, true, out, false, ctx);
        }
        if (reps < 1 || tokens < 2 || threads < 1) {
            throw new IllegalArgumentException("--reps and --threads need at least 1, --tokens at least 2");
        }
        return new BenchOptions(model, reps, tokens, threads, w, h, false, out, batched, ctx);
    }

    private static String value(String[] args, int i, String option) {
        if (i >= args.length) {
            throw new IllegalArgumentException(option + " needs a value");
        }
        return args[i];
    }

    Spec spec() {
        return model.equals("3b") ? Spec.realistic3B() : Spec.tiny(Spec.Projector.QWEN25VL);
    }

    /** The command line that reproduces this run. */
    String describe() {
        return smoke ? "scripts/bench.sh --smoke" : "scripts/bench.sh" + (batched ? " --batched --ctx " + contextSize
                : "") + " --model " + model + " --reps " + reps + " --tokens " + tokens + " --threads " + threads
                + " --image " + imageWidth + "x" + imageHeight;
    }
}
