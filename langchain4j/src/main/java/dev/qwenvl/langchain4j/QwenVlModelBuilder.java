package dev.qwenvl.langchain4j;

import dev.langchain4j.model.chat.listener.ChatModelListener;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.request.DefaultChatRequestParameters;
import dev.qwenvl.ConversationOptions;
import dev.qwenvl.VisionLanguageModel;

import java.util.List;
import java.util.Objects;

/**
 * What {@link QwenVlChatModel} and {@link QwenVlStreamingChatModel} are built from: a loaded model, the options of
 * each request's conversation, where images may come from, default request parameters and listeners.
 *
 * @param <M> the model built
 * @param <B> the concrete builder, returned by each setter
 */
public abstract class QwenVlModelBuilder<M, B extends QwenVlModelBuilder<M, B>> {
    /**
     * The conversation options when none are set: llama-mtmd-cli's, except that message text stays plain text
     * (special-token text such as {@code <|im_start|>} is not read as a token), as LangChain4j messages often come
     * from end users.
     */
    public static final ConversationOptions DEFAULT_CONVERSATION =
            ConversationOptions.defaults().withSpecialTokens(false);

    private VisionLanguageModel model;
    private ConversationOptions conversationOptions = DEFAULT_CONVERSATION;
    private ImageSources imageSources = ImageSources.defaults();
    private ChatRequestParameters defaultRequestParameters = DefaultChatRequestParameters.EMPTY;
    private List<ChatModelListener> listeners = List.of();

    /** For the two models' builders. */
    QwenVlModelBuilder() {
    }

    /**
     * Sets the loaded model that answers; required. The chat model does not close it: close it after the last
     * request.
     *
     * @param model a loaded model
     * @return this builder
     */
    public B model(VisionLanguageModel model) {
        this.model = Objects.requireNonNull(model, "model");
        return self();
    }

    /**
     * Sets the options of the conversation each request runs in (template, Jinja); a request's leading
     * {@code SystemMessage} replaces their system prompt.
     *
     * @param options the conversation options; {@link #DEFAULT_CONVERSATION} if not set
     * @return this builder
     */
    public B conversationOptions(ConversationOptions options) {
        this.conversationOptions = Objects.requireNonNull(options, "options");
        return self();
    }

    /**
     * Sets where images may come from; {@link ImageSources#defaults()} (base64, data: and file:, no downloads) if not
     * set.
     *
     * @param sources the allowed image sources and their limits
     * @return this builder
     */
    public B imageSources(ImageSources sources) {
        this.imageSources = Objects.requireNonNull(sources, "sources");
        return self();
    }

    /**
     * Sets the parameters a request falls back on for those it leaves unset; use
     * {@link QwenVlChatRequestParameters} for a seed. Parameters set nowhere take the model's
     * {@code general.sampling.*} values, else llama.cpp's defaults.
     *
     * @param parameters the default parameters
     * @return this builder
     */
    public B defaultRequestParameters(ChatRequestParameters parameters) {
        this.defaultRequestParameters = Objects.requireNonNull(parameters, "parameters");
        return self();
    }

    /**
     * Sets the listeners LangChain4j calls on each request, response and error.
     *
     * @param listeners the listeners, in call order
     * @return this builder
     */
    public B listeners(List<ChatModelListener> listeners) {
        this.listeners = List.copyOf(listeners);
        return self();
    }

    /**
     * Builds the chat model.
     *
     * @return the model
     * @throws IllegalStateException if no model was set
     */
    public abstract M build();

    @SuppressWarnings("unchecked")
    private B self() {
        return (B) this;
    }

    /** The request mapping these settings make. */
    RequestMapping mapping() {
        if (model == null) {
            throw new IllegalStateException("no model: call model(VisionLanguageModel.load(textGguf, mmprojGguf))");
        }
        return new RequestMapping(model, conversationOptions, imageSources);
    }

    /** The default request parameters, with the model's name when they name none. */
    ChatRequestParameters defaults(RequestMapping mapping) {
        return DefaultChatRequestParameters.builder().modelName(mapping.modelName()).build()
                .overrideWith(defaultRequestParameters);
    }

    List<ChatModelListener> chatListeners() {
        return listeners;
    }
}
