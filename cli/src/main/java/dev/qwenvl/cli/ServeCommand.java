package dev.qwenvl.cli;

import dev.qwenvl.ModelOptions;
import dev.qwenvl.VisionLanguageModel;
import dev.qwenvl.cli.hub.ResolvedModel;
import dev.qwenvl.server.ServerOptions;
import dev.qwenvl.server.VisionServer;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;

/**
 * {@code qwenvl serve}: the OpenAI-compatible server with its chat page, over one model, until Ctrl-C.
 *
 * <pre>{@code
 * java -jar qwenvl.jar serve -m model.gguf --mmproj mmproj.gguf --port 8080 --parallel 2
 * }</pre>
 */
@Command(name = "serve", mixinStandardHelpOptions = true, sortOptions = false, usageHelpAutoWidth = true,
        description = {"Serves the model over HTTP: POST /v1/chat/completions (OpenAI's API, with images),"
                + " GET /v1/models, /health, /metrics, and a chat page at /.",
                "Listens on loopback unless --host says otherwise; /health answers 503 until the model is loaded."})
final class ServeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    ModelChoice modelChoice;

    @Mixin
    ModelFlags modelFlags;

    @Option(names = "--host", paramLabel = "ADDRESS", defaultValue = "127.0.0.1",
            description = "Address to listen on (default: ${DEFAULT-VALUE}); 0.0.0.0 opens it to the network.")
    String host;

    @Option(names = "--port", paramLabel = "N", defaultValue = "8080", description = "TCP port (default:"
            + " ${DEFAULT-VALUE}); 0 for any free one.")
    int port;

    @Option(names = {"-np", "--parallel"}, paramLabel = "N", defaultValue = "1",
            description = "Conversations generating at once, their tokens decoded together in one context (default:"
                    + " ${DEFAULT-VALUE}).")
    int parallel;

    @Option(names = "--queue", paramLabel = "N", defaultValue = "64",
            description = "Requests that may wait for a free conversation; more get 503 (default: ${DEFAULT-VALUE}).")
    int queue;

    @Option(names = "--api-key", paramLabel = "KEY", defaultValue = "${env:QWENVL_API_KEY}",
            description = "Require Authorization: Bearer KEY (not for /health and the page; default: $QWENVL_API_KEY).")
    String apiKey;

    @Option(names = "--model-name", paramLabel = "NAME", defaultValue = "qwenvl",
            description = "The model id clients see (default: ${DEFAULT-VALUE}).")
    String modelName;

    @Option(names = "--jinja", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "Render the chat template with Jinja, as llama-server does (default: on).")
    boolean jinja;

    @Option(names = "--allow-remote-images", description = "Fetch http(s) image URLs for clients (public addresses"
            + " only, 20 MiB, 10 s, 3 redirects).")
    boolean allowRemoteImages;

    @Option(names = "--allow-private-image-hosts", description = "With --allow-remote-images: also fetch from"
            + " loopback, link-local and private addresses.")
    boolean allowPrivateHosts;

    @Option(names = "--media-dir", paramLabel = "DIR", description = "Serve file: image URLs from under this directory.")
    Path mediaDir;

    @Option(names = ExitCodes.VERBOSE, description = "Show llama.cpp's logs and stack traces on stderr.")
    boolean verbose;

    private final Terminal io;

    ServeCommand(Terminal io) {
        this.io = io;
    }

    @Override
    public Integer call() throws Exception {
        Logging.configure(verbose);
        modelChoice.check();
        if (mediaDir != null && !Files.isDirectory(mediaDir)) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--media-dir " + mediaDir
                    + " is not a directory");
        }
        if (allowPrivateHosts && !allowRemoteImages) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--allow-private-image-hosts needs"
                    + " --allow-remote-images");
        }
        ServerOptions options;
        ModelOptions modelOptions;
        try {
            modelOptions = modelFlags.toModelOptions().withParallelSequences(parallel); // decoded together
            options = ServerOptions.defaults().withHost(host).withPort(port).withParallel(parallel, queue)
                    .withApiKey(apiKey == null || apiKey.isEmpty() ? null : apiKey).withModelName(modelName)
                    .withJinja(jinja).withRemoteImages(allowRemoteImages, allowPrivateHosts).withMediaDir(mediaDir);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), "invalid option value: " + e.getMessage());
        }
        ResolvedModel files = modelChoice.files(io);
        try (VisionServer server = VisionServer.start(options,
                () -> VisionLanguageModel.load(files.model(), files.mmproj(), modelOptions))) {
            Thread stop = new Thread(() -> {
                try {
                    server.close();
                } catch (Exception e) {
                    // the JVM is exiting: nothing left to tell
                }
            }, "qwenvl-serve-stop");
            Runtime.getRuntime().addShutdownHook(stop);
            io.err().println("qwenvl: listening on " + server.uri() + " (loading " + files.model().getFileName()
                    + ")");
            io.err().flush();
            server.awaitReady(Duration.ofMillis(Long.MAX_VALUE)); // throws what loading threw
            io.err().println("qwenvl: ready at " + server.uri() + "/ (chat page) and " + server.uri() + "/v1");
            io.err().flush();
            server.join();
            return ExitCodes.OK;
        }
    }
}
