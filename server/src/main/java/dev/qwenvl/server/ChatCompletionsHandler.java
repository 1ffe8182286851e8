package dev.qwenvl.server;

import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.function.Supplier;

/**
 * {@code POST /v1/chat/completions}: reads and checks the body and fetches its images on Jetty's virtual thread,
 * then queues a {@link Completion} for a free conversation.
 */
final class ChatCompletionsHandler extends ApiHandler {
    private final ServerOptions options;
    private final ChatRequestParser parser;
    private final ImageFetcher images;
    private final Supplier<Engine> engine;
    private final ServerMetrics metrics;
    private final ScheduledExecutorService probes = Executors.newSingleThreadScheduledExecutor(
            r -> Thread.ofPlatform().name("qwenvl-connection-probe").daemon().unstarted(r));

    ChatCompletionsHandler(ServerOptions options, ImageFetcher images, Supplier<Engine> engine,
                           ServerMetrics metrics) {
        super("POST", "/v1/chat/completions", metrics);
        this.options = options;
        this.parser = new ChatRequestParser(options.maxImagesPerRequest());
        this.images = images;
        this.engine = engine;
        this.metrics = metrics;
    }

    @Override
    void serve(Request request, Response response, Callback callback) {
        long arrival = System.nanoTime();
        Engine e = engine.get();
        byte[] body;
        try {
            body = readBody(request, options.maxBodyBytes());
        } catch (IOException ex) {
            callback.failed(ex); // the client stopped sending or left: nobody reads an answer
            return;
        }
        ChatRequest chat = parser.parse(body);
        List<List<byte[]>> files = new ArrayList<>();
        long count = 0;
        for (ChatRequest.Turn turn : chat.turns()) {
            List<byte[]> own = new ArrayList<>();
            for (ChatRequest.Part part : turn.parts()) {
                if (part instanceof ChatRequest.Part.ImageUrl url) {
                    own.add(images.fetch(url.url(), url.param()));
                    count++;
                }
            }
            files.add(own);
        }
        metrics.imagesReceived(count);
        Completion completion = new Completion(chat, files, options, e, response, callback, metrics, arrival);
        completion.start();
        request.addIdleTimeoutListener(timeout -> completion.stalledWriting());
        request.addFailureListener(completion::clientGone);
        completion.watch(request.getConnectionMetaData().getConnection().getEndPoint(), probes);
    }

    @Override
    protected void doStop() throws Exception {
        probes.shutdownNow();
        super.doStop();
    }
}
