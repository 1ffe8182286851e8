package dev.qwenvl.cli;

import dev.qwenvl.ModelOptions;
import dev.qwenvl.RpcServer;
import picocli.CommandLine.Option;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The options that say how a model is loaded and how large its context is, shared by {@code qwenvl} and
 * {@code qwenvl info --plan} so that the plan is made for exactly what a run would load.
 */
final class ModelFlags {
    /** {@code -fa} values, as llama.cpp spells them. */
    enum FlashAttn { AUTO, ON, OFF }

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

    @Option(names = "--rpc", paramLabel = "HOST:PORT[,HOST:PORT...]", split = ",",
            description = "rpc-servers that take a share of the text model's layers, as llama.cpp's --rpc. The"
                    + " protocol has no authentication: only on a network you trust.")
    List<String> rpc = new ArrayList<>();

    @Option(names = "--rpc-timeout", paramLabel = "SECONDS", defaultValue = "300",
            description = "Seconds to wait for an rpc-server's reply before the answer fails naming it; 0 waits"
                    + " forever, as llama.cpp does (default: ${DEFAULT-VALUE}).")
    long rpcTimeoutSeconds;

    @Option(names = "--no-memory-check", description = "Load even when the memory plan says it does not fit.")
    boolean noMemoryCheck;

    @Option(names = {"-nr", "--no-repack"}, description = "Keep every weight in the mapped file: no repacked copy"
            + " in memory, and no AMX (as llama.cpp's --no-repack).")
    boolean noRepack;

    /** The options these flags give; IllegalArgumentException for a bad value. */
    ModelOptions toModelOptions() {
        ModelOptions o = ModelOptions.defaults().withContextSize(contextSize).withMmprojOnGpu(!noMmprojOffload)
                .withFlashAttention(switch (flashAttn) {
                    case AUTO -> ModelOptions.FlashAttention.AUTO;
                    case ON -> ModelOptions.FlashAttention.ENABLED;
                    case OFF -> ModelOptions.FlashAttention.DISABLED;
                })
                .withMemoryCheck(!noMemoryCheck)
                .withRepack(!noRepack)
                .withRpcServers(rpc.stream().map(RpcServer::parse).toList())
                .withRpcReplyTimeout(Duration.ofSeconds(rpcTimeoutSeconds));
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
    }
}
