package dev.qwenvl.cli;

import dev.qwenvl.Conversation;
import dev.qwenvl.ConversationOptions;
import dev.qwenvl.Generation;
import dev.qwenvl.Image;
import dev.qwenvl.Message;
import dev.qwenvl.ModelOptions;
import dev.qwenvl.SamplingOptions;
import dev.qwenvl.VisionLanguageModel;
import dev.qwenvl.cli.hub.DownloadProgress;
import dev.qwenvl.grounding.Detection;
import dev.qwenvl.grounding.Grounding;
import dev.qwenvl.cli.hub.HubClient;
import dev.qwenvl.cli.hub.HubModelRef;
import dev.qwenvl.cli.hub.ResolvedModel;
import dev.qwenvl.cli.hub.TerminalProgressBar;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.function.Supplier;

/**
 * {@code qwenvl}: asks Qwen2.5-VL (or Qwen2-VL) about images from the command line, as {@code llama-mtmd-cli} does,
 * with the same defaults. The README lists every option and exit status.
 *
 * <pre>{@code
 * java -jar qwenvl.jar --image sign.jpg --prompt "What does the sign say?"
 * java -jar qwenvl.jar -m model.gguf --mmproj mmproj.gguf --image photo.png -i
 * }</pre>
 */
@Command(name = "qwenvl", mixinStandardHelpOptions = true, versionProvider = VersionInfo.class, sortOptions = false,
        usageHelpAutoWidth = true, subcommands = InfoCommand.class,
        description = {"Asks Qwen2.5-VL about images, locally, with llama.cpp.",
                "Without --model it uses ggml-org/Qwen2.5-VL-3B-Instruct-GGUF (Q4_K_M) from the Hugging Face cache,"
                        + " downloading it on first use."},
        exitCodeListHeading = "%nExit status:%n",
        exitCodeList = {
                "0:success",
                "1:generation failed in llama.cpp, or another runtime error",
                "2:invalid command line",
                "3:an image or the prompt cannot be read or used, or the message does not fit the context",
                "4:the model or mmproj is missing, invalid or refused, or cannot be fetched from the Hub",
                "5:the native llama.cpp libraries cannot be loaded",
                "130:interrupted by Ctrl-C"})
public final class QwenVl implements Callable<Integer> {
    /** Piped prompts larger than this are refused rather than read into memory. */
    static final int MAX_PROMPT_BYTES = 16 * 1024 * 1024;
    /** llama.cpp's repeat_last_n default, used when --repeat-penalty is given. */
    static final int REPEAT_LAST_N = 64;

    /** {@code -fa} values, as llama.cpp spells them. */
    enum FlashAttn { AUTO, ON, OFF }

    @Spec
    CommandSpec spec;

    @Option(names = {"-m", "--model"}, paramLabel = "FILE", description = "Text model GGUF (Qwen2-VL/Qwen2.5-VL).")
    Path model;

    @Option(names = "--mmproj", paramLabel = "FILE", description = "Vision projector GGUF; required with --model.")
    Path mmproj;

    @Option(names = "--hf", paramLabel = "REPO[:QUANT]",
            description = "Hugging Face repository to use instead of --model/--mmproj (default: "
                    + HubModelRef.DEFAULT_REPO + ", " + HubModelRef.DEFAULT_QUANT + ").")
    String hf;

    @Option(names = "--offline", description = "Use only the Hugging Face cache; never contact the Hub.")
    boolean offline;

    @Option(names = "--image", paramLabel = "PATH|URL|DATA-URI|-",
            description = "An image: file, http(s) URL, data:image/...;base64 URI, or - for stdin. Repeatable.")
    List<String> images = new ArrayList<>();

    @Option(names = {"-p", "--prompt"}, paramLabel = "TEXT",
            description = "The question. Without it, read from stdin when stdin is not a terminal.")
    String prompt;

    @Option(names = "--system", paramLabel = "TEXT", description = "System prompt.")
    String system;

    @Option(names = {"-i", "--interactive"}, description = "Chat: read messages from stdin, one per line.")
    boolean interactive;

    @Option(names = {"-n", "--max-tokens", "--n-predict"}, paramLabel = "N", defaultValue = "-1",
            description = "Most tokens to generate; -1 for no limit but the context (default: ${DEFAULT-VALUE}).")
    int maxTokens;

    @Option(names = "--temp", paramLabel = "T",
            description = "Temperature; 0 for greedy (default: model's, else 0.2, as llama-mtmd-cli).")
    Double temperature;

    @Option(names = "--top-k", paramLabel = "K", description = "Top-k; 0 disables (default: model's, else 40).")
    Integer topK;

    @Option(names = "--top-p", paramLabel = "P", description = "Top-p; 1 disables (default: model's, else 0.95).")
    Double topP;

    @Option(names = "--min-p", paramLabel = "P", description = "Min-p; 0 disables (default: model's, else 0.05).")
    Double minP;

    @Option(names = "--repeat-penalty", paramLabel = "X",
            description = "Repeat penalty over the last 64 tokens; 1 disables (default: model's, else 1).")
    Double repeatPenalty;

    @Option(names = {"-s", "--seed"}, paramLabel = "N", description = "Sampling seed; -1 for random (default).")
    Long seed;

    @Option(names = {"-t", "--threads"}, paramLabel = "N", description = "CPU threads (default: about the number of"
            + " physical cores).")
    Integer threads;

    @Option(names = {"-ngl", "--gpu-layers", "--n-gpu-layers"}, paramLabel = "N",
            description = "Text-model layers on the GPU; -1 for all (default: -1).")
    Integer gpuLayers;

    @Option(names = {"-c", "--ctx-size"}, paramLabel = "N", defaultValue = "4096",
            description = "Context size in tokens; 0 for the model's trained length (default: ${DEFAULT-VALUE}).")
    int contextSize;

    @Option(names = "--image-min-tokens", paramLabel = "N", description = "Fewest tokens per image (default: model's).")
    Integer imageMinTokens;

    @Option(names = "--image-max-tokens", paramLabel = "N", description = "Most tokens per image (default: model's).")
    Integer imageMaxTokens;

    @Option(names = "--no-mmproj-offload", description = "Run the vision encoder on the CPU even with a GPU.")
    boolean noMmprojOffload;

    @Option(names = {"-fa", "--flash-attn"}, paramLabel = "auto|on|off", defaultValue = "auto",
            description = "Flash attention (default: ${DEFAULT-VALUE}).")
    FlashAttn flashAttn;

    @Option(names = "--jinja", negatable = true, defaultValue = "false", fallbackValue = "true",
            description = "Render the chat template with Jinja (Qwen's template then adds its default system"
                    + " prompt); --no-jinja uses llama.cpp's built-in templates (default: off, as llama-mtmd-cli).")
    boolean jinja;

    @Option(names = "--json", description = "Print the answer and statistics as one JSON object.")
    boolean json;

    @Option(names = "--detect", paramLabel = "THINGS",
            description = "Ask where these comma-separated things are in the first image (Qwen's grounding prompt;"
                    + " raises --image-min-tokens to " + Grounding.MIN_IMAGE_TOKENS + " unless given).")
    String detect;

    @Option(names = "--boxes", paramLabel = "FILE",
            description = "Draw the answer's boxes and points onto the first image and write it as PNG.")
    Path boxes;

    @Option(names = ExitCodes.VERBOSE, description = "Show llama.cpp's logs, statistics and stack traces on stderr.")
    boolean verbose;

    private final Terminal io;

    QwenVl(Terminal io) {
        this.io = io;
    }

    public static void main(String[] args) {
        System.exit(run(Terminal.system(), args));
    }

    /** Parses and runs the command line; returns the exit status. */
    static int run(Terminal io, String[] args) {
        ExitCodes errors = new ExitCodes();
        CommandLine cl = new CommandLine(new QwenVl(io))
                .setCaseInsensitiveEnumValuesAllowed(true)
                .setOut(new PrintWriter(io.out(), true))
                .setErr(new PrintWriter(io.err(), true))
                .setExecutionExceptionHandler(errors)
                .setParameterExceptionHandler(errors);
        int status = cl.execute(args);
        io.out().flush();
        return status;
    }

    @Override
    public Integer call() throws IOException {
        Logging.configure(verbose);
        boolean imageFromStdin = images.contains(ImageSources.STDIN);
        boolean chat = interactive || (prompt == null && detect == null && io.stdinIsTerminal() && !imageFromStdin);
        checkUsage(chat, imageFromStdin);
        SamplingOptions sampling = usage(this::sampling);
        ModelOptions modelOptions = usage(this::modelOptions);

        ImageSources sources = new ImageSources(io.in());
        List<Image> decoded = new ArrayList<>();
        for (String source : images) {
            decoded.add(sources.read(source));
        }
        String question = detect != null ? usage(() -> Grounding.prompt(GroundingOutput.things(detect)))
                : prompt != null || chat ? prompt : readPrompt(io.in());
        ResolvedModel files = modelFiles();
        ConversationOptions conversationOptions = ConversationOptions.defaults().withJinja(jinja)
                .withSystemPrompt(system);
        try (CancelOnExit cancel = new CancelOnExit(io.err());
             VisionLanguageModel vlm = VisionLanguageModel.load(files.model(), files.mmproj(), modelOptions);
             Conversation conversation = vlm.newConversation(conversationOptions)) {
            if (chat) {
                BufferedReader lines = new BufferedReader(new InputStreamReader(io.in(), StandardCharsets.UTF_8));
                new ChatLoop(conversation, sources, m -> stream(cancel, conversation, m, sampling), cancel, io.err())
                        .run(lines, question, decoded);
                return ExitCodes.OK;
            }
            Message message = new Message(question, decoded);
            Generation g;
            if (json) {
                g = cancel.ask(conversation, message, sampling, piece -> { });
            } else {
                g = stream(cancel, conversation, message, sampling);
            }
            List<Detection> detections = grounding() ? Grounding.parse(g, 0) : null;
            if (boxes != null) {
                GroundingOutput.writeBoxes(decoded.get(0), detections, boxes);
            }
            if (json) {
                io.out().println(AnswerFormat.json(g, vlm.modelFile(), vlm.mmprojFile(), detections));
                io.out().flush();
            } else if (detections != null) {
                io.err().println("qwenvl: " + GroundingOutput.summary(detections)
                        + (boxes != null ? "; drawn onto " + boxes : ""));
            }
            return ExitCodes.OK;
        }
    }

    /** Whether the answer is read for boxes and points: --detect or --boxes. */
    private boolean grounding() {
        return detect != null || boxes != null;
    }

    /** Asks, printing each piece of the answer on stdout as it comes, then a newline; statistics under --verbose. */
    private Generation stream(CancelOnExit cancel, Conversation conversation, Message message,
                              SamplingOptions sampling) {
        Generation g = cancel.ask(conversation, message, sampling, piece -> {
            io.out().print(piece);
            io.out().flush();
        });
        io.out().println();
        io.out().flush();
        if (verbose) {
            io.err().println("qwenvl: " + AnswerFormat.statsLine(g));
        }
        return g;
    }

    private void checkUsage(boolean chat, boolean imageFromStdin) {
        if (model != null && mmproj == null) {
            throw usageError("--mmproj FILE is required with --model (the vision projector of the same model)");
        }
        if (model == null && mmproj != null) {
            throw usageError("--mmproj needs --model: give both files, or neither to use the Hugging Face Hub");
        }
        if (model != null && hf != null) {
            throw usageError("give either --model/--mmproj or --hf, not both");
        }
        if (images.stream().filter(ImageSources.STDIN::equals).count() > 1) {
            throw usageError("--image - (stdin) can be given once");
        }
        if (chat && imageFromStdin) {
            throw usageError("--image - reads stdin, which interactive mode needs for the chat; pass a file");
        }
        if (imageFromStdin && prompt == null && detect == null) {
            throw usageError("--image - reads stdin, so give the question with --prompt");
        }
        if (chat && json) {
            throw usageError("--json prints one answer; it cannot be combined with interactive mode");
        }
        if (grounding() && (chat || images.isEmpty())) {
            throw usageError((detect != null ? "--detect" : "--boxes") + (images.isEmpty()
                    ? " needs an image to look at: add --image" : " reads one answer; it cannot be combined with"
                    + " interactive mode"));
        }
        if (detect != null && prompt != null) {
            throw usageError("--detect builds the question itself; leave out --prompt");
        }
    }

    private SamplingOptions sampling() {
        SamplingOptions s = SamplingOptions.defaults().withMaxTokens(maxTokens);
        if (temperature != null) {
            s = s.withTemperature(temperature);
        }
        if (topK != null) {
            s = s.withTopK(topK);
        }
        if (topP != null) {
            s = s.withTopP(topP);
        }
        if (minP != null) {
            s = s.withMinP(minP);
        }
        if (repeatPenalty != null) {
            s = s.withRepeatPenalty(repeatPenalty, REPEAT_LAST_N);
        }
        if (seed != null && seed != -1) {
            s = s.withSeed(seed);
        }
        return s;
    }

    private ModelOptions modelOptions() {
        ModelOptions o = ModelOptions.defaults().withContextSize(contextSize).withMmprojOnGpu(!noMmprojOffload)
                .withFlashAttention(switch (flashAttn) {
                    case AUTO -> ModelOptions.FlashAttention.AUTO;
                    case ON -> ModelOptions.FlashAttention.ENABLED;
                    case OFF -> ModelOptions.FlashAttention.DISABLED;
                });
        if (threads != null) {
            o = o.withThreads(threads);
        }
        if (gpuLayers != null) {
            o = o.withGpuLayers(gpuLayers);
        }
        if (imageMinTokens != null || imageMaxTokens != null) {
            o = o.withImageTokens(imageMinTokens == null ? 0 : imageMinTokens,
                    imageMaxTokens == null ? 0 : imageMaxTokens);
        }
        return detect != null ? Grounding.modelOptions(o) : o;
    }

    /** The local model files: --model/--mmproj, else the Hub's (downloaded unless --offline). */
    private ResolvedModel modelFiles() {
        if (model != null) {
            return new ResolvedModel(model, mmproj);
        }
        HubModelRef ref = hf == null ? HubModelRef.DEFAULT : HubModelRef.parse(hf);
        HubClient hub = HubClient.fromEnvironment();
        if (offline) {
            return hub.resolveOffline(ref);
        }
        DownloadProgress progress = io.stderrIsTerminal() ? new TerminalProgressBar(io.err()) : new DownloadProgress() {
            @Override
            public void started(String file, long doneBytes, long totalBytes) {
                io.err().println("qwenvl: downloading " + file + " from " + ref.repo());
            }
        };
        return hub.resolve(ref, progress);
    }

    /** The whole of stdin as the prompt, strict UTF-8, without the one line ending a shell pipe adds. */
    private static String readPrompt(InputStream in) {
        byte[] bytes;
        try {
            bytes = in.readNBytes(MAX_PROMPT_BYTES + 1);
        } catch (IOException e) {
            throw new InputException("cannot read the prompt from stdin: " + e, e);
        }
        if (bytes.length > MAX_PROMPT_BYTES) {
            throw new InputException("the prompt on stdin is larger than " + MAX_PROMPT_BYTES + " bytes");
        }
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw new InputException("the prompt on stdin is not valid UTF-8: " + e.getMessage(), e);
        }
        return text.endsWith("\r\n") ? text.substring(0, text.length() - 2)
                : text.endsWith("\n") ? text.substring(0, text.length() - 1) : text;
    }

    /** Builds options from the command line; the facade's range checks become usage errors. */
    private <T> T usage(Supplier<T> build) {
        try {
            return build.get();
        } catch (IllegalArgumentException e) {
            throw usageError("invalid option value: " + e.getMessage());
        }
    }

    private CommandLine.ParameterException usageError(String message) {
        return new CommandLine.ParameterException(spec.commandLine(), message);
    }
}
