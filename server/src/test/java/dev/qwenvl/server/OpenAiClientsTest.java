package dev.qwenvl.server;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.errors.BadRequestException;
import com.openai.errors.UnauthorizedException;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionContentPart;
import com.openai.models.chat.completions.ChatCompletionContentPartImage;
import com.openai.models.chat.completions.ChatCompletionContentPartText;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.ImageContent;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.TextContent;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.openai.OpenAiChatModel;
import dev.langchain4j.model.openai.OpenAiStreamingChatModel;
import dev.langchain4j.model.output.FinishReason;
import dev.qwenvl.Conversation;
import dev.qwenvl.ConversationOptions;
import dev.qwenvl.Generation;
import dev.qwenvl.Image;
import dev.qwenvl.Message;
import dev.qwenvl.Role;
import dev.qwenvl.SamplingOptions;
import dev.qwenvl.VisionLanguageModel;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The official OpenAI Java SDK and LangChain4j's OpenAI models, unchanged, against the server: each answer equals
 * what the facade gives for the same messages (greedy, same options), and errors arrive as the clients' own types.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class OpenAiClientsTest {
    private static final int MAX_TOKENS = 12;
    private VisionServer server;
    private VisionLanguageModel oracle;
    private OpenAIClient openai;
    private byte[] png;

    @BeforeAll
    void start() throws Exception {
        server = TinyServer.start(ServerOptions.defaults().withApiKey(TinyServer.KEY).withParallel(2, 8));
        oracle = TinyServer.load();
        openai = OpenAIOkHttpClient.builder().baseUrl(server.uri() + "/v1").apiKey(TinyServer.KEY).maxRetries(0)
                .timeout(Duration.ofSeconds(60)).build();
        png = TinyServer.png(96, 64);
    }

    @AfterAll
    void stop() throws Exception {
        openai.close();
        server.close();
        oracle.close();
    }

    /** The facade's greedy answer to {@code turns} (role, message pairs; the last one is asked). */
    private Generation expected(List<Role> roles, List<Message> messages) {
        try (Conversation c = oracle.newConversation(ConversationOptions.defaults().withJinja(true)
                .withSpecialTokens(false))) {
            for (int i = 0; i < messages.size() - 1; i++) {
                c.append(roles.get(i), messages.get(i));
            }
            return c.ask(messages.getLast(), SamplingOptions.greedy().withMaxTokens(MAX_TOKENS));
        }
    }

    private ChatCompletionCreateParams.Builder greedy() {
        return ChatCompletionCreateParams.builder().model("qwenvl").temperature(0.0)
                .maxCompletionTokens(MAX_TOKENS);
    }

    private ChatCompletionCreateParams.Builder withImage(ChatCompletionCreateParams.Builder b) {
        ChatCompletionContentPart image = ChatCompletionContentPart.ofImageUrl(ChatCompletionContentPartImage
                .builder().imageUrl(ChatCompletionContentPartImage.ImageUrl.builder()
                        .url(TinyServer.dataUri(png)).build()).build());
        ChatCompletionContentPart text = ChatCompletionContentPart.ofText(ChatCompletionContentPartText.builder()
                .text("What is in this picture?").build());
        return b.addUserMessageOfArrayOfContentParts(List.of(image, text));
    }

    @Test
    void openAiSdkText() {
        ChatCompletion c = openai.chat().completions().create(greedy().addUserMessage("Hello there").build());
        Generation g = expected(List.of(Role.USER), List.of(Message.of("Hello there")));
        assertEquals(g.text(), c.choices().getFirst().message().content().orElseThrow());
        assertEquals(ChatCompletion.Choice.FinishReason.LENGTH, c.choices().getFirst().finishReason());
        assertEquals(MAX_TOKENS, c.usage().orElseThrow().completionTokens());
        assertEquals(g.stats().promptTokens(), c.usage().orElseThrow().promptTokens());
    }

    @Test
    void openAiSdkImageAsDataUri() {
        ChatCompletion c = openai.chat().completions().create(withImage(greedy()).build());
        Generation g = expected(List.of(Role.USER), List.of(Message.of("<__media__>What is in this picture?",
                Image.decode(png))));
        assertEquals(g.text(), c.choices().getFirst().message().content().orElseThrow());
        long prompt = c.usage().orElseThrow().promptTokens();
        assertEquals(g.stats().promptTokens() + g.stats().imageTokens(), prompt);
        assertTrue(g.stats().imageTokens() > 0, "the image reached the model");
    }

    @Test
    void openAiSdkStreamingWithUsage() {
        StringBuilder text = new StringBuilder();
        ChatCompletionChunk[] last = new ChatCompletionChunk[1];
        String[] finish = new String[1];
        try (StreamResponse<ChatCompletionChunk> stream = openai.chat().completions().createStreaming(
                withImage(greedy()).streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build())
                        .build())) {
            stream.stream().limit(10_000).forEach(chunk -> {
                chunk.choices().forEach(choice -> {
                    choice.delta().content().ifPresent(text::append);
                    choice.finishReason().ifPresent(f -> finish[0] = f.asString());
                });
                last[0] = chunk;
            });
        }
        Generation g = expected(List.of(Role.USER), List.of(Message.of("<__media__>What is in this picture?",
                Image.decode(png))));
        assertEquals(g.text(), text.toString());
        assertEquals("length", finish[0]);
        assertTrue(last[0].choices().isEmpty(), "the usage chunk has no choices");
        assertEquals(MAX_TOKENS, last[0].usage().orElseThrow().completionTokens());
    }

    @Test
    void openAiSdkMultiTurnWithSystem() {
        ChatCompletion c = openai.chat().completions().create(greedy().addSystemMessage("Be brief.")
                .addUserMessage("Name a colour.").addAssistantMessage("Blue.").addUserMessage("Another one?")
                .build());
        Generation g = expected(List.of(Role.SYSTEM, Role.USER, Role.ASSISTANT, Role.USER),
                List.of(Message.of("Be brief."), Message.of("Name a colour."), Message.of("Blue."),
                        Message.of("Another one?")));
        assertEquals(g.text(), c.choices().getFirst().message().content().orElseThrow());
        assertEquals(g.stats().promptTokens(), c.usage().orElseThrow().promptTokens());
    }

    @Test
    void openAiSdkErrors() {
        BadRequestException bad = assertThrows(BadRequestException.class,
                () -> openai.chat().completions().create(greedy().addUserMessage("hi").n(2).build()));
        assertTrue(bad.getMessage().contains("n must be 1"), bad.getMessage());
        OpenAIClient wrongKey = OpenAIOkHttpClient.builder().baseUrl(server.uri() + "/v1").apiKey("nope")
                .maxRetries(0).build();
        try {
            assertThrows(UnauthorizedException.class,
                    () -> wrongKey.chat().completions().create(greedy().addUserMessage("hi").build()));
        } finally {
            wrongKey.close();
        }
        assertEquals("qwenvl", openai.models().list().data().getFirst().id());
    }

    private OpenAiChatModel.OpenAiChatModelBuilder langchain() {
        return OpenAiChatModel.builder().baseUrl(server.uri() + "/v1").apiKey(TinyServer.KEY).modelName("qwenvl")
                .temperature(0.0).maxTokens(MAX_TOKENS).maxRetries(0).timeout(Duration.ofSeconds(60));
    }

    @Test
    void langChain4jImageAndMultiTurn() {
        OpenAiChatModel model = langchain().build();
        UserMessage question = UserMessage.from(ImageContent.from(Base64.getEncoder().encodeToString(png),
                "image/png"), TextContent.from("What is in this picture?"));
        ChatResponse r = model.chat(SystemMessage.from("Be brief."), question, AiMessage.from("A gradient."),
                UserMessage.from("Which colours?"));
        Generation g = expected(List.of(Role.SYSTEM, Role.USER, Role.ASSISTANT, Role.USER),
                List.of(Message.of("Be brief."), Message.of("<__media__>What is in this picture?", Image.decode(png)),
                        Message.of("A gradient."), Message.of("Which colours?")));
        assertEquals(g.text(), r.aiMessage().text());
        assertEquals(FinishReason.LENGTH, r.finishReason());
        assertEquals(MAX_TOKENS, r.tokenUsage().outputTokenCount());
    }

    @Test
    void langChain4jStreaming() throws Exception {
        OpenAiStreamingChatModel model = OpenAiStreamingChatModel.builder().baseUrl(server.uri() + "/v1")
                .apiKey(TinyServer.KEY).modelName("qwenvl").temperature(0.0).maxTokens(MAX_TOKENS)
                .timeout(Duration.ofSeconds(60)).build();
        StringBuilder partial = new StringBuilder();
        CompletableFuture<ChatResponse> done = new CompletableFuture<>();
        model.chat(List.of(UserMessage.from("Hello there")), new StreamingChatResponseHandler() {
            @Override
            public void onPartialResponse(String piece) {
                partial.append(piece);
            }

            @Override
            public void onCompleteResponse(ChatResponse response) {
                done.complete(response);
            }

            @Override
            public void onError(Throwable error) {
                done.completeExceptionally(error);
            }
        });
        ChatResponse r = done.get(60, TimeUnit.SECONDS);
        Generation g = expected(List.of(Role.USER), List.of(Message.of("Hello there")));
        assertEquals(g.text(), partial.toString());
        assertEquals(g.text(), r.aiMessage().text());
        assertEquals(FinishReason.LENGTH, r.finishReason());
    }

    @Test
    void langChain4jErrorsAreExceptions() {
        OpenAiChatModel wrongKey = langchain().apiKey("nope").build();
        RuntimeException e = assertThrows(RuntimeException.class, () -> wrongKey.chat("hi"));
        assertFalse(e.getMessage() == null || e.getMessage().isEmpty(), "the error says why");
    }
}
