package dev.qwenvl.cli;

import dev.qwenvl.GgufInfo;
import dev.qwenvl.MemoryPlan;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.OptionalLong;
import java.util.concurrent.Callable;

/**
 * {@code qwenvl info FILE.gguf}: what a GGUF holds, read from its header without loading it. For an mmproj with
 * {@code --model TEXT.gguf}, whether the two belong together (exit status 4 when they do not). With
 * {@code --plan TEXT.gguf --mmproj MMPROJ.gguf} and the run's model options, the {@link MemoryPlan} of loading them
 * (exit status 4 when it does not fit).
 */
@Command(name = "info", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Describes a GGUF file: a text model or an mmproj (vision projector).")
final class InfoCommand implements Callable<Integer> {
    private static final int TEMPLATE_LINES = 5;
    /** llama.h's llama_ftype names by value; null where a value was removed. */
    private static final String[] FILE_TYPES = {"F32", "F16", "Q4_0", "Q4_1", null, null, null, "Q8_0", "Q5_0",
            "Q5_1", "Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K", "IQ2_XXS",
            "IQ2_XS", "Q2_K_S", "IQ3_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S", "IQ3_M", "IQ2_S", "IQ2_M", "IQ4_XS",
            "IQ1_M", "BF16", null, null, null, "TQ1_0", "TQ2_0", "MXFP4_MOE", "NVFP4", "Q1_0", "Q2_0"};

    @Spec
    CommandSpec spec;

    @Parameters(paramLabel = "FILE.gguf", description = "The GGUF file to describe.")
    Path file;

    @Option(names = {"-m", "--model"}, paramLabel = "TEXT.gguf",
            description = "With an mmproj: check that it fits this text model.")
    Path model;

    @Option(names = "--plan", description = "Print the memory plan of loading FILE.gguf (a text model) with --mmproj"
            + " and the model options below, measured by llama.cpp without allocating.")
    boolean plan;

    @Option(names = "--mmproj", paramLabel = "MMPROJ.gguf", description = "With --plan: the vision projector.")
    Path mmproj;

    @Option(names = "--conversations", paramLabel = "N", defaultValue = "1",
            description = "With --plan: conversations (contexts) open at once (default: ${DEFAULT-VALUE}).")
    int conversations;

    @Mixin
    ModelFlags modelFlags;

    @Option(names = ExitCodes.VERBOSE, description = "Print stack traces with errors.")
    boolean verbose;

    @Override
    public Integer call() {
        Logging.configure(verbose);
        PrintWriter out = spec.commandLine().getOut();
        if (plan) {
            return printPlan(out);
        }
        GgufInfo gguf = GgufInfo.read(file);
        String arch = gguf.string("general.architecture").orElse("(none)");
        boolean mmproj = arch.equals("clip");
        row(out, "file", gguf.file().toString());
        row(out, "size", String.format(Locale.ROOT, "%.2f MiB (%d bytes)", gguf.fileSize() / 1048576.0,
                gguf.fileSize()));
        row(out, "architecture", arch + (mmproj ? " (mmproj: vision projector)" : ""));
        gguf.string("general.name").ifPresent(name -> row(out, "name", name));
        row(out, "quantization", fileType(gguf.unsigned("general.file_type")));
        row(out, "tensors", Integer.toString(gguf.tensorCount()));
        int status = ExitCodes.OK;
        if (mmproj) {
            row(out, "projector", gguf.string("clip.projector_type").orElse("(none)"));
            row(out, "image size", number(gguf.unsigned("clip.vision.image_size")));
            row(out, "patch size", number(gguf.unsigned("clip.vision.patch_size")));
            OptionalLong projection = gguf.unsigned("clip.vision.projection_dim");
            row(out, "projection dim", number(projection));
            if (model != null) {
                status = fits(out, projection);
            }
        } else {
            row(out, "context length", number(gguf.unsigned(arch + ".context_length")));
            row(out, "embedding length", number(gguf.unsigned(arch + ".embedding_length")));
            row(out, "layers", number(gguf.unsigned(arch + ".block_count")));
            row(out, "chat template", gguf.string("tokenizer.chat_template").map(InfoCommand::firstLines)
                    .orElse("(none)"));
        }
        out.flush();
        return status;
    }

    /** Prints the plan of loading file with --mmproj; MODEL status if it does not fit. */
    private int printPlan(PrintWriter out) {
        if (mmproj == null) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--plan needs --mmproj MMPROJ.gguf");
        }
        MemoryPlan p;
        try {
            p = MemoryPlan.of(file, mmproj, modelFlags.toModelOptions(), conversations);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), "invalid option value: " + e.getMessage());
        }
        out.print(p);
        out.flush();
        return p.fits() ? ExitCodes.OK : ExitCodes.MODEL;
    }

    /** Prints whether the mmproj projects into the --model's embedding size; MODEL status if not. */
    private int fits(PrintWriter out, OptionalLong projection) {
        GgufInfo text = GgufInfo.read(model);
        String textArch = text.string("general.architecture").orElse("(none)");
        OptionalLong embedding = text.unsigned(textArch + ".embedding_length");
        boolean fits = projection.isPresent() && embedding.isPresent()
                && projection.getAsLong() == embedding.getAsLong();
        row(out, "fits the model", (fits ? "yes" : "no") + " (projection dim " + number(projection) + ", "
                + model.getFileName() + " embedding length " + number(embedding) + ")");
        return fits ? ExitCodes.OK : ExitCodes.MODEL;
    }

    private static void row(PrintWriter out, String name, String value) {
        out.printf(Locale.ROOT, "%-17s %s%n", name + ":", value);
    }

    private static String number(OptionalLong v) {
        return v.isPresent() ? Long.toString(v.getAsLong()) : "(not set)";
    }

    private static String fileType(OptionalLong type) {
        if (type.isEmpty()) {
            return "(general.file_type not set)";
        }
        long t = type.getAsLong();
        String name = t < FILE_TYPES.length ? FILE_TYPES[(int) t] : null;
        return (name == null ? "unknown" : name) + " (general.file_type " + t + ")";
    }

    /** The template's first lines, indented under its row, and how many lines it has in all. */
    private static String firstLines(String template) {
        List<String> lines = template.lines().toList();
        StringBuilder s = new StringBuilder(lines.size() + (lines.size() == 1 ? " line" : " lines"));
        lines.stream().limit(TEMPLATE_LINES).forEach(l -> s.append("\n    ").append(l));
        if (lines.size() > TEMPLATE_LINES) {
            s.append("\n    ...");
        }
        return s.toString();
    }
}
