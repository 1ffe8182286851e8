package dev.qwenvl.langchain4j;

import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.PartialResponse;
import dev.langchain4j.model.chat.response.PartialResponseContext;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.chat.response.StreamingHandle;
import dev.qwenvl.Conversation;


/**
 * A LangChain4j {@link StreamingChatModel} answered in process by a qwenvl {@link dev.qwenvl.VisionLanguageModel}:
 * the same requests as {@link QwenVlChatModel}, with each piece of the answer (complete UTF-8) handed to the handler
 * as it is generated.
 * {@snippet :
 * StreamingChatModel chat = QwenVlStreamingChatModel.builder().model(vlm).build();
 * chat.chat("Tell me a story.", new StreamingChatResponseHandler() {
 *     public void onPartialResponse(String piece) { System.out.print(piece); }
 *     public void onCompleteResponse(ChatResponse r) { System.out.println("\n" + r.finishReason()); }
 *     public void onError(Throwable e) { e.printStackTrace(); }
 * });
 * }
 *
 * <p>{@code doChat} returns at once; the answer is generated on a thread of its own ({@code qwenvl-langchain4j}),
 * which calls the handler. A request that cannot be run (an unsupported parameter, an unreadable image) reaches the
 * handler's {@code onError} before {@code doChat} returns. {@link StreamingHandle#cancel()} from the partial-response
 * context stops the generation within one token; the handler then receives neither more pieces nor a complete
 * response.
 */
public final class QwenVlStreamingChatModel extends QwenVlModelBase implements StreamingChatModel {
    private QwenVlStreamingChatModel(Builder builder) {
        super(builder);
    }

    /**
     * Returns a builder; {@link Builder#model} is required.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /** Starts answering a request whose parameters LangChain4j has already merged with the defaults. */
    @Override
    public void doChat(ChatRequest request, StreamingChatResponseHandler handler) {
        RequestMapping.Prepared prepared;
        try {
            prepared = mapping.prepare(request);
        } catch (RuntimeException e) {
            handler.onError(e);
            return;
        }
        Cancellation handle = new Cancellation();
        PartialResponseContext context = new PartialResponseContext(handle);
        Thread.ofPlatform().name("qwenvl-langchain4j").daemon().start(() -> {
            ChatResponse response;
            try {
                response = mapping.run(prepared, piece -> {
                    if (handle.isCancelled()) {
                        handle.cancel(); // a cancel before the answer began was cleared when it began
                    } else {
                        handler.onPartialResponse(new PartialResponse(piece), context);
                    }
                }, handle::attach);
            } catch (RuntimeException | Error e) {
                handler.onError(e);
                return;
            }
            if (!handle.isCancelled()) {
                handler.onCompleteResponse(response);
            }
        });
    }

    /** Cancels the request's conversation, once it has one. */
    private static final class Cancellation implements StreamingHandle {
        private Conversation conversation;
        private boolean cancelled;

        synchronized void attach(Conversation chat) {
            conversation = chat;
            if (cancelled) {
                chat.cancel();
            }
        }

        @Override
        public synchronized void cancel() {
            cancelled = true;
            if (conversation != null) {
                conversation.cancel();
            }
        }

        @Override
        public synchronized boolean isCancelled() {
            return cancelled;
        }
    }

    /** Builds a {@link QwenVlStreamingChatModel}. */
    public static final class Builder extends QwenVlModelBuilder<QwenVlStreamingChatModel, Builder> {
        private Builder() {
        }

        @Override
        public QwenVlStreamingChatModel build() {
            return new QwenVlStreamingChatModel(this);
        }
    }
}
