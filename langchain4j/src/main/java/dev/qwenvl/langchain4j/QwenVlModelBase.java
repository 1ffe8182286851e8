package dev.qwenvl.langchain4j;

import dev.langchain4j.model.ModelProvider;
import dev.langchain4j.model.chat.listener.ChatModelListener;
import dev.langchain4j.model.chat.request.ChatRequestParameters;

import java.util.List;

/** What the blocking and the streaming model share: the request mapping, default parameters and listeners. */
abstract class QwenVlModelBase {
    final RequestMapping mapping;
    private final ChatRequestParameters defaults;
    private final List<ChatModelListener> listeners;

    QwenVlModelBase(QwenVlModelBuilder<?, ?> builder) {
        mapping = builder.mapping();
        defaults = builder.defaults(mapping);
        listeners = builder.chatListeners();
    }

    /**
     * The parameters a request falls back on; their model name is the text GGUF's file name.
     *
     * @return the default request parameters
     */
    public ChatRequestParameters defaultRequestParameters() {
        return defaults;
    }

    /**
     * The listeners LangChain4j calls around each request.
     *
     * @return the listeners, in call order
     */
    public List<ChatModelListener> listeners() {
        return listeners;
    }

    /**
     * {@link ModelProvider#OTHER}: LangChain4j has no constant for in-process llama.cpp.
     *
     * @return {@link ModelProvider#OTHER}
     */
    public ModelProvider provider() {
        return ModelProvider.OTHER;
    }
}
