package dev.qwenvl.server;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.qwenvl.ContextOverflowException;
import dev.qwenvl.Conversation;
import dev.qwenvl.Generation;
import dev.qwenvl.GenerationStats;
import dev.qwenvl.Image;
import dev.qwenvl.ImageDecoder;
import dev.qwenvl.ImageException;
import dev.qwenvl.Message;
import dev.qwenvl.PromptException;
import dev.qwenvl.QwenVlException;
import dev.qwenvl.StopReason;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Blocker;
import org.eclipse.jetty.util.Callback;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static dev.qwenvl.ChatMessage.MEDIA_MARKER;

/**
 * One chat completion, run on a slot thread with a reset conversation: the earlier messages are appended, the last
 * one asked, and the answer written as one JSON object or as Server-Sent Events in llama-server's shapes. A client
 * that leaves cancels the generation at its next piece, or takes its request out of the queue.
 */
final class Completion {
    /** Larger decoded images are refused: llama.cpp scales every image to a few megapixels anyway. */
    static final long MAX_IMAGE_PIXELS = 32L * 1024 * 1024;
    /** How often an open request checks that its client is still connected. */
    static final long PROBE_MILLIS = 200;
    private static final SecureRandom IDS = new SecureRandom();

    private final ChatRequest chat;
    private final List<List<byte[]>> files;
    private final ServerOptions options;
    private final Engine engine;
    private final Response response;
    private final Callback callback;
    private final ServerMetrics metrics;
    private final long arrival;
    private final String id = "chatcmpl-" + HexFormat.of().formatHex(randomBytes());
    private final long created = System.currentTimeMillis() / 1000;
    private final AtomicBoolean finished = new AtomicBoolean();
    private boolean lastBytes; // the response's last bytes are going out; guarded by finished
    private volatile boolean gone;
    private volatile Conversation running;
    private volatile Future<?> queued;
    private volatile ScheduledFuture<?> probe;
    private volatile boolean closeAfter;
    private volatile boolean writing;
    private boolean committed;
    private boolean firstPiece = true;

    Completion(ChatRequest chat, List<List<byte[]>> files, ServerOptions options, Engine engine, Response response,
               Callback callback, ServerMetrics metrics, long arrival) {
        this.chat = chat;
        this.files = files;
        this.options = options;
        this.engine = engine;
        this.response = response;
        this.callback = callback;
        this.metrics = metrics;
        this.arrival = arrival;
    }

    private static byte[] randomBytes() {
        byte[] b = new byte[12];
        IDS.nextBytes(b);
        return b;
    }

    /** Queues this completion; throws a 503 {@link ApiException} when the queue is full. */
    void start() {
        queued = engine.pool().submit(this::run);
    }

    /** Jetty saw the connection fail: stop generating, or leave the queue. */
    void clientGone(Throwable cause) {
        gone = true;
        Conversation c = running;
        if (c != null) {
            c.cancel();
            return;
        }
        Future<?> q = queued;
        if (q != null) {
            engine.pool().withdraw(q);
        }
        fail(cause);
    }

    /**
     * Checks the connection every {@link #PROBE_MILLIS} until the answer is complete: Jetty reads nothing while a
     * request is being handled, so without this a client that left would go unnoticed until the answer is written.
     * A read returning end-of-stream means the client left. Bytes read would be a pipelined request, which this
     * consumes: the connection is then closed after this answer (OpenAI clients do not pipeline).
     */
    void watch(EndPoint endPoint, ScheduledExecutorService probes) {
        ByteBuffer one = ByteBuffer.allocate(1);
        probe = probes.scheduleWithFixedDelay(() -> {
            try {
                int n;
                synchronized (finished) { // once finished, the connection may carry the client's next request
                    if (finished.get() || lastBytes) {
                        probe.cancel(false);
                        return;
                    }
                    one.clear().limit(0); // Jetty fills a buffer held in flush mode: empty is position = limit = 0
                    n = endPoint.fill(one);
                }
                if (n < 0) {
                    probe.cancel(false);
                    clientGone(new java.io.EOFException("the client closed the connection"));
                } else if (n > 0) {
                    probe.cancel(false);
                    closeAfter = true;
                }
            } catch (IOException e) {
                probe.cancel(false);
                clientGone(e);
            }
        }, PROBE_MILLIS, PROBE_MILLIS, TimeUnit.MILLISECONDS);
    }

    private void run(Conversation conversation) {
        running = conversation;
        if (gone) {
            fail(new IOException("the client left while the request waited"));
            return;
        }
        try {
            List<Message> messages = messages();
            for (int i = 0; i < messages.size() - 1; i++) {
                conversation.append(chat.turns().get(i).role(), messages.get(i));
            }
            Generation g = conversation.ask(messages.getLast(), chat.sampling(), piece -> onPiece(conversation,
                    piece));
            if (gone || g.stopReason() == StopReason.CANCELLED) {
                metrics.cancelled();
                fail(new IOException("the client left during the generation"));
                return;
            }
            metrics.completed(g.stats(), Duration.ofNanos(System.nanoTime() - arrival));
            if (chat.stream()) {
                finishStream(g);
            } else {
                closeIfProbed();
                Responses.json(response, once(), 200, answer(g));
            }
        } catch (ApiException e) {
            refuse(e);
        } catch (ContextOverflowException e) {
            refuse(new ApiException(400, "invalid_request_error", "context_length_exceeded", "messages",
                    e.getMessage()));
        } catch (ImageException e) {
            refuse(new ApiException(400, "invalid_request_error", "invalid_image", "messages", e.getMessage()));
        } catch (PromptException e) {
            refuse(new ApiException(400, "invalid_request_error", "invalid_prompt", "messages", e.getMessage()));
        } catch (QwenVlException | IllegalStateException e) {
            refuse(new ApiException(500, "server_error", "generation_failed", null, e.getMessage()));
        } catch (IOException e) {
            conversation.cancel();
            fail(e);
        } catch (RuntimeException | Error e) {
            refuse(new ApiException(500, "server_error", "internal_error", null, "the server failed: " + e));
        } finally {
            running = null;
        }
    }

    /** The facade messages: each image part becomes a marker where it stood, text parts joined as llama-server. */
    private List<Message> messages() {
        ImageDecoder decoder = ImageDecoder.defaults().withMaxPixels(MAX_IMAGE_PIXELS)
                .withMaxBytes(options.maxImageBytes());
        List<Message> messages = new ArrayList<>();
        for (int t = 0; t < chat.turns().size(); t++) {
            StringBuilder text = new StringBuilder();
            List<Image> images = new ArrayList<>();
            boolean lastWasImage = false;
            for (ChatRequest.Part part : chat.turns().get(t).parts()) {
                if (part instanceof ChatRequest.Part.ImageUrl url) {
                    try {
                        images.add(decoder.decode(files.get(t).get(images.size())));
                    } catch (ImageException e) {
                        throw ApiException.invalid(url.param(), "the image cannot be used: " + e.getMessage());
                    }
                    text.append(MEDIA_MARKER);
                    lastWasImage = true;
                } else if (part instanceof ChatRequest.Part.Text p) {
                    if (!lastWasImage && !text.isEmpty()) {
                        text.append('\n'); // common_chat_msg's rule: newlines between text parts, none by images
                    }
                    text.append(p.text());
                    lastWasImage = false;
                }
            }
            messages.add(new Message(text.toString(), images));
        }
        return messages;
    }

    private void onPiece(Conversation conversation, String piece) {
        if (gone) {
            conversation.cancel();
            return;
        }
        if (firstPiece) {
            firstPiece = false;
            metrics.firstToken(Duration.ofNanos(System.nanoTime() - arrival));
        }
        if (!chat.stream()) {
            return;
        }
        try {
            commitStream();
            ObjectNode delta = Responses.JSON.createObjectNode().put("content", piece);
            send(chunk(delta, null), false);
        } catch (IOException e) {
            gone = true;
            conversation.cancel();
        }
    }

    private void commitStream() throws IOException {
        if (committed) {
            return;
        }
        committed = true;
        closeIfProbed();
        response.setStatus(200);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "text/event-stream; charset=utf-8");
        response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-cache");
        ObjectNode delta = Responses.JSON.createObjectNode().put("role", "assistant").putNull("content");
        send(chunk(delta, null), false);
    }

    private void finishStream(Generation g) throws IOException {
        commitStream();
        ObjectNode last = chunk(Responses.JSON.createObjectNode(), finishReason(g.stopReason()));
        if (chat.includeUsage()) {
            send(last, false);
            last = envelope("chat.completion.chunk");
            last.putArray("choices");
            last.set("usage", usage(g.stats()));
        }
        last.set("timings", timings(g.stats()));
        send(last, false);
        write(Responses.utf8("data: [DONE]\n\n"), true);
        succeed();
    }

    private void send(ObjectNode event, boolean last) throws IOException {
        write(ByteBuffer.wrap(("data: " + Responses.JSON.writeValueAsString(event) + "\n\n")
                .getBytes(java.nio.charset.StandardCharsets.UTF_8)), last);
    }

    private void write(ByteBuffer bytes, boolean last) throws IOException {
        if (last) {
            stopProbing();
        }
        writing = true;
        try (Blocker.Callback blocker = Blocker.callback()) {
            response.write(last, bytes, blocker);
            blocker.block();
        } finally {
            writing = false;
        }
    }

    /**
     * Whether an idle timeout now means the client stopped reading: only while a streamed write waits. Otherwise the
     * silence is the model working (a long prompt, a queue), which must not end the request.
     */
    boolean stalledWriting() {
        return writing;
    }

    /** An error before anything was sent is a JSON error; after the stream began, an error event ends it. */
    private void refuse(ApiException e) {
        if (!committed) {
            closeIfProbed();
            Responses.error(response, once(), e);
            return;
        }
        try {
            send(Responses.errorBody(e), false);
            write(Responses.utf8("data: [DONE]\n\n"), true);
            succeed();
        } catch (IOException io) {
            fail(io);
        }
    }

    private void closeIfProbed() {
        if (closeAfter) {
            response.getHeaders().put(HttpHeader.CONNECTION, "close");
        }
    }

    private ObjectNode answer(Generation g) {
        ObjectNode root = envelope("chat.completion");
        ObjectNode choice = root.putArray("choices").addObject();
        choice.put("finish_reason", finishReason(g.stopReason()));
        choice.put("index", 0);
        choice.putObject("message").put("role", "assistant").put("content", g.text());
        root.set("usage", usage(g.stats()));
        root.set("timings", timings(g.stats()));
        return root;
    }

    private ObjectNode chunk(ObjectNode delta, String finishReason) {
        ObjectNode root = envelope("chat.completion.chunk");
        ArrayNode choices = root.putArray("choices");
        ObjectNode choice = choices.addObject();
        choice.put("finish_reason", finishReason);
        choice.put("index", 0);
        choice.set("delta", delta);
        return root;
    }

    private ObjectNode envelope(String object) {
        ObjectNode root = Responses.JSON.createObjectNode();
        root.put("id", id);
        root.put("object", object);
        root.put("created", created);
        root.put("model", options.modelName());
        root.put("system_fingerprint", "qwenvl");
        return root;
    }

    static String finishReason(StopReason reason) {
        return switch (reason) {
            case END_OF_GENERATION, STOP_STRING, CANCELLED -> "stop";
            case MAX_TOKENS, CONTEXT_FULL -> "length";
        };
    }

    private static ObjectNode usage(GenerationStats s) {
        ObjectNode usage = Responses.JSON.createObjectNode();
        int prompt = s.promptTokens() + s.imageTokens();
        usage.put("completion_tokens", s.generatedTokens());
        usage.put("prompt_tokens", prompt);
        usage.put("total_tokens", prompt + s.generatedTokens());
        usage.putObject("prompt_tokens_details").put("cached_tokens", s.cachedTokens());
        return usage;
    }

    /** llama-server's {@code timings}, from the facade's statistics (the prompt includes image encoding). */
    private static ObjectNode timings(GenerationStats s) {
        int promptN = s.promptTokens() + s.imageTokens();
        double promptMs = (s.imageEncodeTime().toNanos() + s.promptEvalTime().toNanos()) / 1e6;
        double predictedMs = s.generationTime().toNanos() / 1e6;
        ObjectNode t = Responses.JSON.createObjectNode();
        t.put("cache_n", s.cachedTokens());
        t.put("prompt_n", promptN);
        t.put("prompt_ms", promptMs);
        t.put("prompt_per_token_ms", promptN == 0 ? 0 : promptMs / promptN);
        t.put("prompt_per_second", promptMs == 0 ? 0 : promptN * 1000 / promptMs);
        t.put("predicted_n", s.generatedTokens());
        t.put("predicted_ms", predictedMs);
        t.put("predicted_per_token_ms", s.generatedTokens() == 0 ? 0 : predictedMs / s.generatedTokens());
        t.put("predicted_per_second", predictedMs == 0 ? 0 : s.generatedTokens() * 1000 / predictedMs);
        return t;
    }

    /** The callback of a whole response written at once: its bytes are the last, so the probe stops first. */
    private Callback once() {
        stopProbing();
        return Callback.from(this::succeed, this::fail);
    }

    /**
     * Stops the connection probe before the response's last bytes go out: a client that has them may send its next
     * request on the connection at once, and a probe reading then would swallow that request's first byte (seen as
     * "header parser received no bytes" on the client). Waits for a probe in progress.
     */
    private void stopProbing() {
        synchronized (finished) {
            lastBytes = true;
        }
    }

    private void succeed() {
        if (finish()) {
            callback.succeeded();
        }
    }

    private void fail(Throwable cause) {
        if (finish()) {
            callback.failed(cause);
        }
    }

    /** Marks the exchange finished, once; waits for a connection probe in progress, which must not read past it. */
    private boolean finish() {
        synchronized (finished) {
            return finished.compareAndSet(false, true);
        }
    }
}
