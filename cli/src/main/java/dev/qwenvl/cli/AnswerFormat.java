package dev.qwenvl.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.qwenvl.ChatMessage;
import dev.qwenvl.Generation;
import dev.qwenvl.GenerationStats;
import dev.qwenvl.grounding.Detection;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;

/** The CLI's renderings of an answer: the {@code --json} object, the statistics line, a saved chat history. */
final class AnswerFormat {
    private static final ObjectMapper JSON = new ObjectMapper();

    private AnswerFormat() {
    }

    /**
     * One JSON object: {@code answer}, {@code stop_reason} (lower case), {@code model}, {@code mmproj},
     * {@code stats} (token counts, times in milliseconds, rates in tokens per second, each image's geometry) and,
     * when {@code detections} is not null, {@code detections}.
     */
    static String json(Generation g, Path model, Path mmproj, List<Detection> detections) {
        ObjectNode root = JSON.createObjectNode();
        root.put("answer", g.text());
        root.put("stop_reason", g.stopReason().name().toLowerCase(Locale.ROOT));
        root.put("model", model.toString());
        root.put("mmproj", mmproj.toString());
        GenerationStats s = g.stats();
        ObjectNode stats = root.putObject("stats");
        stats.put("prompt_tokens", s.promptTokens());
        stats.put("image_tokens", s.imageTokens());
        stats.put("generated_tokens", s.generatedTokens());
        stats.put("image_encode_ms", millis(s.imageEncodeTime()));
        stats.put("prompt_eval_ms", millis(s.promptEvalTime()));
        stats.put("generation_ms", millis(s.generationTime()));
        stats.put("prompt_tokens_per_second", round(s.promptTokensPerSecond()));
        stats.put("generation_tokens_per_second", round(s.generationTokensPerSecond()));
        stats.set("images", GroundingOutput.imagesJson(s.images()));
        if (detections != null) {
            root.set("detections", GroundingOutput.detectionsJson(detections));
        }
        return write(root);
    }

    /** {@code prompt 40 tokens + 64 image tokens in 0.21 s (495.2 t/s, images encoded in 0.10 s); ...} */
    static String statsLine(Generation g) {
        GenerationStats s = g.stats();
        return String.format(Locale.ROOT, "prompt %d tokens + %d image tokens in %.2f s (%.1f t/s, images encoded in"
                        + " %.2f s); generated %d tokens in %.2f s (%.1f t/s); stopped: %s",
                s.promptTokens(), s.imageTokens(), seconds(s.promptEvalTime()), s.promptTokensPerSecond(),
                seconds(s.imageEncodeTime()), s.generatedTokens(), seconds(s.generationTime()),
                s.generationTokensPerSecond(), g.stopReason().name().toLowerCase(Locale.ROOT).replace('_', ' '));
    }

    /** {@code {"messages": [{"role": "user", "content": "..."}, ...]}}, images shown as their markers. */
    static String historyJson(List<ChatMessage> history) {
        ObjectNode root = JSON.createObjectNode();
        ArrayNode messages = root.putArray("messages");
        for (ChatMessage m : history) {
            messages.addObject().put("role", m.role()).put("content", m.content());
        }
        return write(root) + "\n";
    }

    /** Each turn as {@code [role]} on a line, its content, and a blank line. */
    static String historyText(List<ChatMessage> history) {
        StringBuilder text = new StringBuilder();
        for (ChatMessage m : history) {
            text.append('[').append(m.role()).append("]\n").append(m.content()).append("\n\n");
        }
        return text.toString();
    }

    private static String write(ObjectNode node) {
        try {
            return JSON.writeValueAsString(node);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write JSON: " + e.getMessage(), e); // a tree of plain values always serializes
        }
    }

    private static double millis(Duration d) {
        return round(d.toNanos() / 1e6);
    }

    private static double seconds(Duration d) {
        return d.toNanos() / 1e9;
    }

    private static double round(double v) {
        return Math.round(v * 100) / 100.0;
    }
}
