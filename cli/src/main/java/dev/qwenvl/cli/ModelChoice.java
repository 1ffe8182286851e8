package dev.qwenvl.cli;

import dev.qwenvl.ModelOptions;
import dev.qwenvl.cli.hub.DownloadProgress;
import dev.qwenvl.cli.hub.HubClient;
import dev.qwenvl.cli.hub.HubModelRef;
import dev.qwenvl.cli.hub.ResolvedModel;
import dev.qwenvl.cli.hub.TerminalProgressBar;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.nio.file.Path;

/**
 * Which model to load and how, shared by the main command and {@code serve}: the files (or a Hub repository) and the
 * options llama.cpp loads them with.
 */
final class ModelChoice {
    /** {@code -fa} values, as llama.cpp spells them. */
    enum FlashAttn { AUTO, ON, OFF }

    @Spec(Spec.Target.MIXEE)
    CommandSpec command;

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

    /** Refuses contradictory file options as usage errors. */
    void check() {
        if (model != null && mmproj == null) {
            throw usageError("--mmproj FILE is required with --model (the vision projector of the same model)");
        }
        if (model == null && mmproj != null) {
            throw usageError("--mmproj needs --model: give both files, or neither to use the Hugging Face Hub");
        }
        if (model != null && hf != null) {
            throw usageError("give either --model/--mmproj or --hf, not both");
        }
    }

    /** The load options; the facade's range checks become usage errors. */
    ModelOptions modelOptions() {
        try {
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
            return o;
        } catch (IllegalArgumentException e) {
            throw usageError("invalid option value: " + e.getMessage());
        }
    }

    /** The local model files: --model/--mmproj, else the Hub's (downloaded unless --offline). */
    ResolvedModel files(Terminal io) {
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

    private CommandLine.ParameterException usageError(String message) {
        return new CommandLine.ParameterException(command.commandLine(), message);
    }
}
