package dev.qwenvl.grounding;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Finds JSON objects in a model's free text, as models write them: inside code fences or bare, among prose, with
 * trailing or missing commas, unquoted keys, and cut off at the end. One forward pass over the text, so time and
 * memory stay linear in its length whatever it holds; nesting deeper than {@link #MAX_DEPTH} is skipped, not parsed.
 *
 * <p>Values are {@link JsonObject}, {@link JsonArray}, {@link String}, {@link Double} (finite), {@link Boolean},
 * {@link #NULL}, or {@link Unusable} for anything that is not a usable value (NaN, infinities, numbers too long or
 * out of range, bare words).
 */
final class LenientJson {
    static final int MAX_DEPTH = 64;
    /** Longer number tokens are refused rather than parsed: no coordinate needs more digits. */
    static final int MAX_NUMBER_CHARS = 64;
    static final Object NULL = new Object();
    private static final Object UNEXPECTED = new Object(); // a character that starts no value: the structure ends
    private static final Pattern NUMBER = Pattern.compile("-?\\d+(\\.\\d+)?([eE][+-]?\\d+)?");

    /** An object and whether the text ended before its closing brace. */
    record JsonObject(Map<String, Object> members, boolean truncated) {
    }

    /** An array and whether the text ended before its closing bracket. */
    record JsonArray(List<Object> items, boolean truncated) {
    }

    /** A value that cannot be used as a number or string, with an excerpt of how it was written. */
    record Unusable(String excerpt) {
    }

    private final String text;
    private int pos;

    private LenientJson(String text) {
        this.text = text;
    }

    /** Every object, at any depth of any JSON value in {@code text}, that has one of {@code keys}, in text order. */
    static List<JsonObject> objectsWithAnyKey(String text, Set<String> keys) {
        LenientJson p = new LenientJson(text);
        List<JsonObject> found = new ArrayList<>();
        while (p.skipToOpening()) {
            int start = p.pos;
            collect(p.value(0), keys, found);
            if (p.pos <= start) {
                p.pos = start + 1;
            }
        }
        return found;
    }

    /** A finite number written in JSON's syntax, or null if {@code token} is anything else. */
    static Double number(String token) {
        if (token.length() > MAX_NUMBER_CHARS || !NUMBER.matcher(token).matches()) {
            return null;
        }
        double v = Double.parseDouble(token);
        return Double.isFinite(v) ? v : null;
    }

    /** The first characters of {@code s}, for messages that quote a model's text. */
    static String excerpt(String s) {
        return s.length() <= 40 ? s : s.substring(0, 40) + "...";
    }

    private static void collect(Object v, Set<String> keys, List<JsonObject> found) {
        if (v instanceof JsonObject o) {
            if (keys.stream().anyMatch(o.members()::containsKey)) {
                found.add(o);
            }
            o.members().values().forEach(m -> collect(m, keys, found));
        } else if (v instanceof JsonArray a) {
            a.items().forEach(i -> collect(i, keys, found));
        }
    }

    private boolean skipToOpening() {
        while (pos < text.length()) {
            char c = text.charAt(pos);
            if (c == '{' || c == '[') {
                return true;
            }
            pos++;
        }
        return false;
    }

    private Object value(int depth) {
        skipWhitespace();
        if (pos >= text.length()) {
            return UNEXPECTED;
        }
        char c = text.charAt(pos);
        if ((c == '{' || c == '[') && depth >= MAX_DEPTH) {
            int start = pos;
            skipNested();
            return new Unusable("nested deeper than " + MAX_DEPTH + ": " + excerpt(text.substring(start,
                    Math.min(pos, start + 41))));
        }
        if (c == '{') {
            return object(depth);
        }
        if (c == '[') {
            return array(depth);
        }
        if (c == '"') {
            return string();
        }
        if (c == '-' || (c >= '0' && c <= '9')) {
            return numberToken();
        }
        if (Character.isLetter(c)) {
            String word = word();
            return switch (word) {
                case "true" -> Boolean.TRUE;
                case "false" -> Boolean.FALSE;
                case "null" -> NULL;
                default -> new Unusable(excerpt(word));
            };
        }
        return UNEXPECTED;
    }

    private JsonObject object(int depth) {
        pos++;
        Map<String, Object> members = new LinkedHashMap<>();
        while (true) {
            skipWhitespace();
            if (pos >= text.length()) {
                return new JsonObject(members, true);
            }
            char c = text.charAt(pos);
            if (c == '}') {
                pos++;
                return new JsonObject(members, false);
            }
            if (c == ',') {
                pos++;
                continue;
            }
            String key;
            if (c == '"') {
                key = string();
            } else if (Character.isLetter(c) || c == '_') {
                key = word();
            } else {
                return new JsonObject(members, false); // broken here; the caller resumes scanning at this character
            }
            skipWhitespace();
            if (pos >= text.length()) {
                return new JsonObject(members, true);
            }
            if (text.charAt(pos) != ':') {
                return new JsonObject(members, false);
            }
            pos++;
            Object v = value(depth + 1);
            if (v == UNEXPECTED) {
                return new JsonObject(members, pos >= text.length());
            }
            members.put(key, v);
        }
    }

    private JsonArray array(int depth) {
        pos++;
        List<Object> items = new ArrayList<>();
        while (true) {
            skipWhitespace();
            if (pos >= text.length()) {
                return new JsonArray(items, true);
            }
            char c = text.charAt(pos);
            if (c == ']') {
                pos++;
                return new JsonArray(items, false);
            }
            if (c == ',') {
                pos++;
                continue;
            }
            Object v = value(depth + 1);
            if (v == UNEXPECTED) {
                return new JsonArray(items, pos >= text.length());
            }
            items.add(v);
        }
    }

    private String string() {
        pos++;
        StringBuilder s = new StringBuilder();
        while (pos < text.length()) {
            char c = text.charAt(pos++);
            if (c == '"') {
                return s.toString();
            }
            if (c == '\\' && pos < text.length()) {
                char e = text.charAt(pos++);
                switch (e) {
                    case 'n' -> s.append('\n');
                    case 't' -> s.append('\t');
                    case 'r' -> s.append('\r');
                    case 'b' -> s.append('\b');
                    case 'f' -> s.append('\f');
                    case 'u' -> {
                        if (pos + 4 <= text.length() && text.substring(pos, pos + 4).chars()
                                .allMatch(h -> Character.digit(h, 16) >= 0)) {
                            s.append((char) Integer.parseInt(text, pos, pos + 4, 16));
                            pos += 4;
                        } else {
                            s.append('u');
                        }
                    }
                    default -> s.append(e);
                }
            } else {
                s.append(c);
            }
        }
        return s.toString(); // cut off: the enclosing structure reports the truncation
    }

    private Object numberToken() {
        int start = pos;
        pos++;
        if (start + 1 < text.length() && text.charAt(start) == '-' && Character.isLetter(text.charAt(pos))) {
            return new Unusable("-" + excerpt(word())); // -Infinity, -NaN
        }
        while (pos < text.length() && "0123456789.eE+-".indexOf(text.charAt(pos)) >= 0) {
            pos++;
        }
        if (pos - start > MAX_NUMBER_CHARS) {
            return new Unusable(excerpt(text.substring(start, start + 41)));
        }
        String token = text.substring(start, pos);
        Double v = number(token);
        return v != null ? (Object) v : new Unusable(token);
    }

    private String word() {
        int start = pos;
        while (pos < text.length() && (Character.isLetterOrDigit(text.charAt(pos)) || text.charAt(pos) == '_')) {
            pos++;
        }
        return text.substring(start, pos);
    }

    /** Skips a bracketed value without building it, counting brackets outside strings; stops at the end of text. */
    private void skipNested() {
        int open = 0;
        boolean inString = false;
        while (pos < text.length()) {
            char c = text.charAt(pos++);
            if (inString) {
                if (c == '\\') {
                    pos++;
                } else if (c == '"') {
                    inString = false;
                }
            } else if (c == '"') {
                inString = true;
            } else if (c == '{' || c == '[') {
                open++;
            } else if ((c == '}' || c == ']') && --open == 0) {
                return;
            }
        }
    }

    private void skipWhitespace() {
        while (pos < text.length() && Character.isWhitespace(text.charAt(pos))) {
            pos++;
        }
    }
}
