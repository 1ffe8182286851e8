package dev.qwenvl.langchain4j;

import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.ChatMessage;
import dev.langchain4j.data.message.Content;
import dev.langchain4j.data.message.ImageContent;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.TextContent;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.request.ResponseFormatType;
import dev.langchain4j.model.chat.request.ToolChoice;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.model.output.TokenUsage;
import dev.qwenvl.Conversation;
import dev.qwenvl.ConversationOptions;
import dev.qwenvl.Generation;
import dev.qwenvl.Image;
import dev.qwenvl.Message;
import dev.qwenvl.Role;
import dev.qwenvl.SamplingOptions;
import dev.qwenvl.VisionLanguageModel;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * Turns a LangChain4j {@link ChatRequest} into one facade {@link Conversation} and its answer into a
 * {@link ChatResponse}; shared by the blocking and the streaming model.
 */
final class RequestMapping {
    /** The marker the facade replaces with an image, as llama-server puts it where an image part was. */
    private static final String MEDIA_MARKER = dev.qwenvl.ChatMessage.MEDIA_MARKER;

    private final VisionLanguageModel model;
    private final ConversationOptions conversationOptions;
    private final ImageSources imageSources;
    private final String modelName;

    RequestMapping(VisionLanguageModel model, ConversationOptions conversationOptions, ImageSources imageSources) {
        this.model = model;
        this.conversationOptions = conversationOptions;
        this.imageSources = imageSources;
        this.modelName = model.modelFile().getFileName().toString();
    }

    /** The model's name as responses report it: the text GGUF's file name. */
    String modelName() {
        return modelName;
    }

    /** A request checked and converted, ready to run: nothing native has happened yet. */
    record Prepared(ConversationOptions options, List<Turn> earlier, Message question, SamplingOptions sampling) {
    }

    /** An earlier turn of the chat, added to the conversation before the question. */
    record Turn(Role role, Message message) {
    }

    /**
     * Checks and converts a request; images are read and decoded here.
     *
     * @throws UnsupportedFeatureException for tools, JSON response formats, or messages other than system, user and
     *                                     AI text
     * @throws IllegalArgumentException    for a request naming another model, or not ending with a user message
     */
    Prepared prepare(ChatRequest request) {
        ChatRequestParameters p = request.parameters();
        SamplingOptions sampling = sampling(p);
        List<ChatMessage> messages = request.messages();
        ConversationOptions options = conversationOptions;
        int first = 0;
        if (messages.getFirst() instanceof SystemMessage system) {
            options = options.withSystemPrompt(system.text());
            first = 1;
        }
        if (!(messages.getLast() instanceof UserMessage last)) {
            throw new IllegalArgumentException("the last message of a request must be a UserMessage, the question to"
                    + " answer; got " + messages.getLast().type());
        }
        List<Turn> earlier = new ArrayList<>();
        for (ChatMessage m : messages.subList(first, messages.size() - 1)) {
            earlier.add(switch (m) {
                case UserMessage user -> new Turn(Role.USER, message(user));
                case AiMessage ai -> new Turn(Role.ASSISTANT, assistant(ai));
                case SystemMessage s -> throw new UnsupportedFeatureException("a SystemMessage is supported only as"
                        + " the first message of a request; move it there or merge it into the first one");
                default -> throw new UnsupportedFeatureException(m.type() + " messages are not supported by qwenvl:"
                        + " it has no tool calling; send system, user and AI messages");
            });
        }
        return new Prepared(options, List.copyOf(earlier), message(last), sampling);
    }

    /**
     * Runs a prepared request in a conversation of its own, handing each new piece of text to {@code onText}.
     *
     * @param opened called with the conversation before it answers, so that a caller can cancel it
     */
    ChatResponse run(Prepared prepared, Consumer<String> onText, Consumer<Conversation> opened) {
        try (Conversation chat = model.newConversation(prepared.options())) {
            opened.accept(chat);
            for (Turn turn : prepared.earlier()) {
                chat.append(turn.role(), turn.message());
            }
            Generation answer = chat.ask(prepared.question(), prepared.sampling(), onText);
            int input = answer.stats().promptTokens() + answer.stats().imageTokens();
            int output = answer.stats().generatedTokens();
            return ChatResponse.builder()
                    .aiMessage(AiMessage.from(answer.text()))
                    .metadata(QwenVlChatResponseMetadata.builder()
                            .modelName(modelName)
                            .tokenUsage(new TokenUsage(input, output, input + output))
                            .finishReason(finishReason(answer))
                            .stats(answer.stats())
                            .build())
                    .build();
        }
    }

    private SamplingOptions sampling(ChatRequestParameters p) {
        if (p.modelName() != null && !p.modelName().equals(modelName)) {
            throw new IllegalArgumentException("this model serves " + modelName + " and cannot switch to "
                    + p.modelName() + "; build another QwenVlChatModel for that model, or leave modelName unset");
        }
        if (p.toolSpecifications() != null && !p.toolSpecifications().isEmpty()) {
            throw new UnsupportedFeatureException("tools are not supported by qwenvl; remove the tool specifications");
        }
        if (p.toolChoice() == ToolChoice.REQUIRED) {
            throw new UnsupportedFeatureException("toolChoice REQUIRED is not supported by qwenvl: it has no tools");
        }
        if (p.responseFormat() != null && p.responseFormat().type() != ResponseFormatType.TEXT) {
            throw new UnsupportedFeatureException("response format " + p.responseFormat().type() + " is not supported"
                    + " by qwenvl; ask for JSON in the prompt instead");
        }
        SamplingOptions s = SamplingOptions.defaults();
        if (p.temperature() != null) {
            s = s.withTemperature(p.temperature());
        }
        if (p.topP() != null) {
            s = s.withTopP(p.topP());
        }
        if (p.topK() != null) {
            s = s.withTopK(p.topK());
        }
        if (p.frequencyPenalty() != null || p.presencePenalty() != null) {
            s = s.withFrequencyAndPresencePenalties(p.frequencyPenalty() == null ? 0 : p.frequencyPenalty(),
                    p.presencePenalty() == null ? 0 : p.presencePenalty());
        }
        if (p.maxOutputTokens() != null) {
            s = s.withMaxTokens(p.maxOutputTokens());
        }
        if (p.stopSequences() != null && !p.stopSequences().isEmpty()) {
            s = s.withStopStrings(p.stopSequences());
        }
        if (p instanceof QwenVlChatRequestParameters q && q.seed() != null) {
            s = s.withSeed(q.seed());
        }
        return s;
    }

    /**
     * A user message's parts as one facade message: text parts joined by newlines, an image marker where each image
     * was, with no newline next to a marker (llama.cpp's common/chat.cpp concat_content_parts).
     */
    private Message message(UserMessage user) {
        StringBuilder text = new StringBuilder();
        List<Image> images = new ArrayList<>();
        boolean lastWasImage = false;
        for (Content c : user.contents()) {
            switch (c) {
                case TextContent t -> {
                    if (!lastWasImage && !text.isEmpty()) {
                        text.append('\n');
                    }
                    text.append(t.text());
                    lastWasImage = false;
                }
                case ImageContent i -> {
                    images.add(imageSources.read(i));
                    text.append(MEDIA_MARKER);
                    lastWasImage = true;
                }
                default -> throw new UnsupportedFeatureException(c.type() + " content is not supported by qwenvl;"
                        + " send text and images");
            }
        }
        return new Message(text.toString(), images);
    }

    private static Message assistant(AiMessage ai) {
        if (ai.hasToolExecutionRequests()) {
            throw new UnsupportedFeatureException("an AiMessage with tool execution requests is not supported by"
                    + " qwenvl: it has no tool calling");
        }
        return Message.of(ai.text() == null ? "" : ai.text());
    }

    private static FinishReason finishReason(Generation answer) {
        return switch (answer.stopReason()) {
            case END_OF_GENERATION, STOP_STRING -> FinishReason.STOP;
            case MAX_TOKENS, CONTEXT_FULL -> FinishReason.LENGTH;
            case CANCELLED -> FinishReason.OTHER;
        };
    }
}
