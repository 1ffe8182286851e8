package dev.qwenvl.cli;

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
 * Which model files to load, shared by the main command and {@code serve}: {@code -m}/{@code --mmproj}, or a Hub
 * repository ({@link ModelFlags} says how they are loaded).
 */
final class ModelChoice {
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
