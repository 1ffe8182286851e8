package dev.qwenvl.grounding;

import java.util.Collections;
import java.util.EnumSet;
import java.util.Objects;
import java.util.Set;

/**
 * One thing a model located, as parsed from its answer by {@link Grounding#parse}.
 *
 * @param image   which image of the question the coordinates refer to (0 for the first)
 * @param label   the model's label for it; empty when it gave none
 * @param shape   where it is in the original image's pixels, clamped onto the image; null when {@link Flag#INVALID}
 * @param written the coordinates exactly as the model wrote them (model-frame pixels for Qwen2.5-VL's JSON, the
 *                0..1000 grid for Qwen2-VL's box tokens); null when {@link Flag#INVALID}
 * @param flags   what was unusual about it; empty for a well-formed detection inside the image
 * @param problem why it is {@link Flag#INVALID}, quoting the model's text; null otherwise
 */
public record Detection(int image, String label, Shape shape, Shape written, Set<Flag> flags, String problem) {

    /** What was unusual about a detection. */
    public enum Flag {
        /** A coordinate fell outside the original image (in the padding or beyond the frame) and was clamped. */
        CLAMPED,
        /** A box's second corner is left of or above its first; the corners are kept as written, not swapped. */
        INVERTED,
        /** The coordinates are unusable (not numbers, NaN, infinite, the wrong count, cut off): no shape. */
        INVALID,
        /** The answer ended inside this detection (the token limit was reached). */
        TRUNCATED
    }

    public Detection {
        Objects.requireNonNull(label, "label");
        EnumSet<Flag> copy = EnumSet.noneOf(Flag.class);
        copy.addAll(flags);
        flags = Collections.unmodifiableSet(copy); // in the enum's order, for stable output
        if ((shape == null) != flags.contains(Flag.INVALID) || (written == null) != (shape == null)) {
            throw new IllegalArgumentException("a detection has a shape and written coordinates exactly when it is"
                    + " not INVALID: " + shape + ", " + written + ", " + flags);
        }
    }

    /** Whether this detection has usable coordinates. */
    public boolean isValid() {
        return shape != null;
    }
}
