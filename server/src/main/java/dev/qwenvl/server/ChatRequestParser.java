package dev.qwenvl.server;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.qwenvl.Role;
import dev.qwenvl.SamplingOptions;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Reads and checks a chat completions body field by field, so that every mistake is a 400 naming the field. Fields
 * are honoured, or ignored where ignoring changes nothing ({@code model}: one model is served; {@code user},
 * {@code metadata}, {@code store}: bookkeeping), or refused by name.
 */
final class ChatRequestParser {
    static final int MAX_MESSAGES = 1024;
    static final int MAX_STOP_STRINGS = 16;
    private static final Set<String> HONOURED = Set.of("messages", "stream", "stream_options", "max_tokens",
            "max_completion_tokens", "temperature", "top_p", "top_k", "min_p", "seed", "stop", "n",
            "frequency_penalty", "presence_penalty", "repeat_penalty", "logprobs", "response_format");
    private static final Set<String> IGNORED = Set.of("model", "user", "metadata", "store");
    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    private final int maxImages;

    ChatRequestParser(int maxImages) {
        this.maxImages = maxImages;
    }

    ChatRequest parse(byte[] body) {
        JsonNode root;
        try {
            root = JSON.readTree(body);
        } catch (JsonProcessingException e) {
            throw ApiException.invalid(null, "the body is not valid JSON: " + e.getOriginalMessage());
        } catch (java.io.IOException e) {
            throw ApiException.invalid(null, "the body cannot be read as JSON: " + e.getMessage());
        }
        if (root == null || !root.isObject()) {
            throw ApiException.invalid(null, "the body must be a JSON object with \"messages\"");
        }
        refuseUnknown(root);
        List<ChatRequest.Turn> turns = messages(root.get("messages"));
        boolean stream = bool(root, "stream", false);
        boolean includeUsage = false;
        JsonNode options = present(root, "stream_options");
        if (options != null) {
            if (!options.isObject()) {
                throw ApiException.invalid("stream_options", "stream_options must be an object");
            }
            for (Iterator<String> it = options.fieldNames(); it.hasNext(); ) {
                String name = it.next();
                if (!name.equals("include_usage")) {
                    throw ApiException.unsupported("stream_options." + name, "stream_options." + name
                            + " is not supported; only include_usage is");
                }
            }
            includeUsage = bool(options, "include_usage", false);
        }
        Integer n = integer(root, "n", 1, Integer.MAX_VALUE);
        if (n != null && n != 1) {
            throw ApiException.unsupported("n", "n must be 1: one choice per request is served");
        }
        if (bool(root, "logprobs", false)) {
            throw ApiException.unsupported("logprobs", "logprobs are not supported; leave logprobs false");
        }
        JsonNode format = present(root, "response_format");
        if (format != null && !(format.isObject() && format.size() == 1 && format.path("type").isTextual()
                && format.get("type").asText().equals("text"))) {
            throw ApiException.unsupported("response_format", "response_format must be {\"type\": \"text\"}:"
                    + " structured output is not supported");
        }
        return new ChatRequest(turns, sampling(root), stream, includeUsage);
    }

    private static void refuseUnknown(JsonNode root) {
        Set<String> unknown = new TreeSet<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> field = it.next();
            String name = field.getKey();
            if (!HONOURED.contains(name) && !IGNORED.contains(name) && !field.getValue().isNull()) {
                unknown.add(name);
            }
        }
        if (!unknown.isEmpty()) {
            throw ApiException.unsupported(unknown.iterator().next(), "unsupported field"
                    + (unknown.size() > 1 ? "s " : " ") + String.join(", ", unknown) + ": remove "
                    + (unknown.size() > 1 ? "them" : "it"));
        }
    }

    private List<ChatRequest.Turn> messages(JsonNode messages) {
        if (messages == null || messages.isNull()) {
            throw ApiException.invalid("messages", "\"messages\" is required: a list of {role, content} objects");
        }
        if (!messages.isArray()) {
            throw ApiException.invalid("messages", "messages must be an array, got " + kind(messages));
        }
        if (messages.isEmpty()) {
            throw ApiException.invalid("messages", "messages must not be empty");
        }
        if (messages.size() > MAX_MESSAGES) {
            throw ApiException.invalid("messages", "at most " + MAX_MESSAGES + " messages, got " + messages.size());
        }
        List<ChatRequest.Turn> turns = new ArrayList<>();
        long images = 0;
        for (int i = 0; i < messages.size(); i++) {
            ChatRequest.Turn turn = message(messages.get(i), "messages[" + i + "]");
            images += turn.imageCount();
            turns.add(turn);
        }
        if (images > maxImages) {
            throw ApiException.invalid("messages", "the request holds " + images + " images; at most " + maxImages
                    + " are accepted");
        }
        if (turns.getLast().role() != Role.USER) {
            throw ApiException.invalid("messages[" + (turns.size() - 1) + "].role", "the last message must be the"
                    + " user's: it is the one answered");
        }
        return turns;
    }

    private static ChatRequest.Turn message(JsonNode m, String at) {
        if (!m.isObject()) {
            throw ApiException.invalid(at, at + " must be an object with role and content, got " + kind(m));
        }
        for (Iterator<String> it = m.fieldNames(); it.hasNext(); ) {
            String name = it.next();
            if (!name.equals("role") && !name.equals("content") && !name.equals("name")) {
                throw ApiException.unsupported(at + "." + name, at + "." + name + " is not supported");
            }
        }
        JsonNode roleNode = m.get("role");
        if (roleNode == null || !roleNode.isTextual()) {
            throw ApiException.invalid(at + ".role", at + ".role must be one of system, developer, user,"
                    + " assistant");
        }
        Role role = switch (roleNode.asText()) {
            case "system", "developer" -> Role.SYSTEM;
            case "user" -> Role.USER;
            case "assistant" -> Role.ASSISTANT;
            case "tool", "function" -> throw ApiException.unsupported(at + ".role", "the role " + roleNode.asText()
                    + " is not supported: tools are not");
            default -> throw ApiException.invalid(at + ".role", "unknown role \"" + roleNode.asText()
                    + "\" in " + at + "; use system, developer, user or assistant");
        };
        JsonNode content = m.get("content");
        if (content == null || content.isNull()) {
            throw ApiException.invalid(at + ".content", at + ".content is required");
        }
        List<ChatRequest.Part> parts = new ArrayList<>();
        if (content.isTextual()) {
            parts.add(new ChatRequest.Part.Text(content.asText()));
        } else if (content.isArray()) {
            for (int i = 0; i < content.size(); i++) {
                parts.add(part(content.get(i), at + ".content[" + i + "]", role));
            }
        } else {
            throw ApiException.invalid(at + ".content", at + ".content must be a string or an array of parts, got "
                    + kind(content));
        }
        return new ChatRequest.Turn(role, List.copyOf(parts));
    }

    private static ChatRequest.Part part(JsonNode p, String at, Role role) {
        if (!p.isObject() || !p.path("type").isTextual()) {
            throw ApiException.invalid(at, at + " must be an object with a \"type\"");
        }
        String type = p.get("type").asText();
        switch (type) {
            case "text" -> {
                JsonNode text = p.get("text");
                if (text == null || !text.isTextual()) {
                    throw ApiException.invalid(at + ".text", at + ".text must be a string");
                }
                return new ChatRequest.Part.Text(text.asText());
            }
            case "image_url" -> {
                if (role != Role.USER) {
                    throw ApiException.invalid(at, "images are accepted in user messages only");
                }
                JsonNode image = p.get("image_url");
                if (image == null || !image.isObject() || !image.path("url").isTextual()) {
                    throw ApiException.invalid(at + ".image_url", at + ".image_url must be {\"url\": \"data:image/"
                            + "...;base64,...\"}");
                }
                JsonNode detail = image.get("detail");
                if (detail != null && !detail.isNull() && !(detail.isTextual()
                        && Set.of("auto", "low", "high").contains(detail.asText()))) {
                    throw ApiException.invalid(at + ".image_url.detail", "detail must be auto, low or high");
                }
                return new ChatRequest.Part.ImageUrl(image.get("url").asText(), at + ".image_url.url");
            }
            default -> throw ApiException.unsupported(at + ".type", "content parts of type \"" + type
                    + "\" are not supported; use text or image_url");
        }
    }

    private static SamplingOptions sampling(JsonNode root) {
        SamplingOptions s = SamplingOptions.defaults();
        Integer maxTokens = integer(root, "max_tokens", -1, Integer.MAX_VALUE);
        Integer maxCompletion = integer(root, "max_completion_tokens", -1, Integer.MAX_VALUE);
        if (maxTokens != null && maxCompletion != null && !maxTokens.equals(maxCompletion)) {
            throw ApiException.invalid("max_completion_tokens", "max_tokens and max_completion_tokens differ;"
                    + " give one");
        }
        Integer limit = maxCompletion != null ? maxCompletion : maxTokens;
        if (limit != null) {
            s = s.withMaxTokens(limit);
        }
        Double temperature = number(root, "temperature", 0, 2);
        if (temperature != null) {
            s = s.withTemperature(temperature);
        }
        Double topP = number(root, "top_p", 0, 1);
        if (topP != null) {
            s = s.withTopP(topP);
        }
        Integer topK = integer(root, "top_k", 0, Integer.MAX_VALUE);
        if (topK != null) {
            s = s.withTopK(topK);
        }
        Double minP = number(root, "min_p", 0, 1);
        if (minP != null) {
            s = s.withMinP(minP);
        }
        Double repeat = number(root, "repeat_penalty", Double.MIN_VALUE, 100);
        if (repeat != null) {
            s = s.withRepeatPenalty(repeat, 64);
        }
        Double frequency = number(root, "frequency_penalty", -2, 2);
        Double presence = number(root, "presence_penalty", -2, 2);
        if (frequency != null || presence != null) {
            s = s.withFrequencyAndPresencePenalties(frequency == null ? 0 : frequency, presence == null ? 0 : presence);
        }
        JsonNode seed = present(root, "seed");
        if (seed != null) {
            if (!seed.isIntegralNumber() || !seed.canConvertToLong()
                    || seed.asLong() < -1 || seed.asLong() >= 0xFFFFFFFFL) {
                throw ApiException.invalid("seed", "seed must be an integer from 0 to 4294967294, or -1 for random");
            }
            if (seed.asLong() >= 0) {
                s = s.withSeed(seed.asLong());
            }
        }
        List<String> stops = stops(present(root, "stop"));
        if (!stops.isEmpty()) {
            s = s.withStopStrings(stops);
        }
        return s;
    }

    private static List<String> stops(JsonNode stop) {
        if (stop == null) {
            return List.of();
        }
        List<String> stops = new ArrayList<>();
        if (stop.isTextual()) {
            stops.add(stop.asText());
        } else if (stop.isArray() && stop.size() <= MAX_STOP_STRINGS) {
            for (JsonNode s : stop) {
                if (!s.isTextual()) {
                    throw ApiException.invalid("stop", "stop must be a string or an array of strings");
                }
                stops.add(s.asText());
            }
        } else {
            throw ApiException.invalid("stop", "stop must be a string or an array of at most " + MAX_STOP_STRINGS
                    + " strings");
        }
        if (stops.stream().anyMatch(String::isEmpty)) {
            throw ApiException.invalid("stop", "stop strings must not be empty");
        }
        return stops;
    }

    private static JsonNode present(JsonNode parent, String name) {
        JsonNode v = parent.get(name);
        return v == null || v.isNull() ? null : v;
    }

    private static boolean bool(JsonNode parent, String name, boolean absent) {
        JsonNode v = present(parent, name);
        if (v == null) {
            return absent;
        }
        if (!v.isBoolean()) {
            throw ApiException.invalid(name, name + " must be true or false, got " + kind(v));
        }
        return v.asBoolean();
    }

    private static Integer integer(JsonNode parent, String name, int min, int max) {
        JsonNode v = present(parent, name);
        if (v == null) {
            return null;
        }
        if (!v.isIntegralNumber() || !v.canConvertToInt() || v.asInt() < min || v.asInt() > max) {
            throw ApiException.invalid(name, name + " must be an integer from " + min + " to " + max + ", got "
                    + v);
        }
        return v.asInt();
    }

    private static Double number(JsonNode parent, String name, double min, double max) {
        JsonNode v = present(parent, name);
        if (v == null) {
            return null;
        }
        if (!v.isNumber() || !(v.asDouble() >= min && v.asDouble() <= max)) {
            throw ApiException.invalid(name, name + " must be a number from " + (min == Double.MIN_VALUE ? "above 0"
                    : min) + " to " + max + ", got " + v);
        }
        return v.asDouble();
    }

    private static String kind(JsonNode v) {
        return v.getNodeType().name().toLowerCase(java.util.Locale.ROOT);
    }
}
