package dev.qwenvl;

import java.util.List;
import java.util.function.Consumer;

/**
 * Passes generated text on, holding back just enough of its end to tell whether a stop string is starting, so a
 * listener never sees text past a stop string.
 */
final class StopStrings {
    private final List<String> stops;
    private final Consumer<String> onText;
    private final int holdBack;
    private final StringBuilder text = new StringBuilder();
    private int emitted;
    private String last = ""; // the text just added: handed on itself when it is all that is due, not copied

    StopStrings(List<String> stops, Consumer<String> onText) {
        this.stops = stops;
        this.onText = onText;
        this.holdBack = stops.stream().mapToInt(String::length).max().orElse(1) - 1;
    }

    /** Adds text; returns true when a stop string has appeared (the text then ends before it). */
    boolean add(String more) {
        last = more;
        text.append(more);
        int cut = -1;
        for (String s : stops) {
            int at = text.indexOf(s, Math.max(0, emitted - s.length()));
            if (at >= 0 && (cut < 0 || at < cut)) {
                cut = at;
            }
        }
        if (cut >= 0) {
            last = ""; // what is due now ends inside the added text
            text.setLength(cut);
            emitUpTo(cut);
            return true;
        }
        emitUpTo(Math.max(emitted, text.length() - holdBack));
        return false;
    }

    /** Hands on whatever was held back. */
    void finish() {
        emitUpTo(text.length());
    }

    String text() {
        return text.toString();
    }

    private void emitUpTo(int end) {
        if (end > emitted) {
            if (Character.isHighSurrogate(text.charAt(end - 1)) && end < text.length()) {
                end++; // never split a surrogate pair
            }
            onText.accept(end == text.length() && emitted == end - last.length() ? last
                    : text.substring(emitted, end));
            emitted = end;
        }
    }
}
