package dev.qwenvl.langchain4j;

import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;


/**
 * A LangChain4j {@link ChatModel} answered in process by a qwenvl {@link dev.qwenvl.VisionLanguageModel}: user
 * messages with images, a leading system message, earlier user and AI turns, token usage and finish reason.
 * {@snippet :
 * try (VisionLanguageModel vlm = VisionLanguageModel.load(textGguf, mmprojGguf)) {
 *     ChatModel chat = QwenVlChatModel.builder().model(vlm)
 *             .defaultRequestParameters(ChatRequestParameters.builder().temperature(0.0).maxOutputTokens(200).build())
 *             .build();
 *     ChatResponse r = chat.chat(UserMessage.from(TextContent.from("What is in this picture?"),
 *             ImageContent.from(Path.of("photo.png"), "image/png")));
 *     System.out.println(r.aiMessage().text() + " " + r.tokenUsage());
 * }
 * }
 *
 * <p>Each request runs in a fresh {@link dev.qwenvl.Conversation} (its own KV cache), closed after the answer; a later
 * request that resends the same history takes its cells over from the model's prefix cache, so earlier turns are not
 * computed again ({@link QwenVlChatResponseMetadata#stats()} says how many tokens were cached). Requests may run on
 * several threads at once. Parameters LangChain4j has but qwenvl cannot
 * honour (tools, JSON response formats) raise {@link dev.langchain4j.exception.UnsupportedFeatureException}; bad
 * images and prompts raise the facade's {@link dev.qwenvl.QwenVlException}s.
 */
public final class QwenVlChatModel extends QwenVlModelBase implements ChatModel {
    private QwenVlChatModel(Builder builder) {
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

    /** Answers a request whose parameters LangChain4j has already merged with {@link #defaultRequestParameters()}. */
    @Override
    public ChatResponse doChat(ChatRequest request) {
        return mapping.run(mapping.prepare(request), text -> { }, chat -> { });
    }

    /** Builds a {@link QwenVlChatModel}. */
    public static final class Builder extends QwenVlModelBuilder<QwenVlChatModel, Builder> {
        private Builder() {
        }

        @Override
        public QwenVlChatModel build() {
            return new QwenVlChatModel(this);
        }
    }
}
