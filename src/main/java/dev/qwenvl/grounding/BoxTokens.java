package dev.qwenvl.grounding;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Qwen2-VL's grounding syntax: {@code <|object_ref_start|>a car<|object_ref_end|><|box_start|>(x1,y1),(x2,y2)<|box_end|>},
 * on a 0..1000 grid; one label may be followed by several boxes. One forward pass over the text.
 */
final class BoxTokens {
    static final String REF_START = "<|object_ref_start|>";
    static final String REF_END = "<|object_ref_end|>";
    static final String BOX_START = "<|box_start|>";
    static final String BOX_END = "<|box_end|>";
    // possessive quantifiers: no backtracking, so matching is linear in the box's text
    private static final Pattern TWO_CORNERS = Pattern.compile(
            "\\s*+\\(([^(),]*+),([^(),]*+)\\)\\s*+(?:,\\s*+)?\\(([^(),]*+),([^(),]*+)\\)\\s*+");

    /** A box as written: its label, four coordinates or the problem with them, and whether the text ended in it. */
    record Written(String label, double[] corners, String problem, boolean truncated) {
    }

    private BoxTokens() {
    }

    static boolean appearsIn(String text) {
        return text.contains(BOX_START);
    }

    static List<Written> parse(String text) {
        List<Written> boxes = new ArrayList<>();
        String label = "";
        int i = 0;
        while ((i = text.indexOf("<|", i)) >= 0) {
            if (text.startsWith(REF_START, i)) {
                int from = i + REF_START.length();
                int end = text.indexOf("<|", from);
                label = text.substring(from, end < 0 ? text.length() : end).strip();
                i = end < 0 ? text.length() : end;
            } else if (text.startsWith(BOX_START, i)) {
                int from = i + BOX_START.length();
                int end = text.indexOf("<|", from);
                String inside = text.substring(from, end < 0 ? text.length() : end);
                boxes.add(box(label, inside, end < 0));
                i = end < 0 ? text.length() : end;
            } else {
                i += 2;
            }
        }
        return boxes;
    }

    private static Written box(String label, String inside, boolean truncated) {
        Matcher m = TWO_CORNERS.matcher(inside);
        if (!m.matches()) {
            return new Written(label, null, "expected (x1,y1),(x2,y2) between " + BOX_START + " and " + BOX_END
                    + ", got '" + LenientJson.excerpt(inside) + "'" + (truncated ? " (the answer ends there)" : ""),
                    truncated);
        }
        double[] corners = new double[4];
        for (int k = 0; k < 4; k++) {
            String token = m.group(k + 1).strip();
            Double v = LenientJson.number(token);
            if (v == null) {
                return new Written(label, null, "box coordinate '" + LenientJson.excerpt(token)
                        + "' is not a finite number", truncated);
            }
            corners[k] = v;
        }
        return new Written(label, corners, null, truncated);
    }
}
