package dev.qwenvl;

/** Checks text before it reaches C, where a NUL would silently cut it short and a lone surrogate cannot be encoded. */
final class Text {
    private Text() {
    }

    /** Throws {@link PromptException} naming {@code what} if the text holds a NUL or a lone surrogate. */
    static void check(String what, String text) {
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == 0) {
                throw new PromptException("the " + what + " holds a NUL character at index " + i + "; remove it");
            }
            if (Character.isSurrogate(c)) {
                boolean paired = Character.isHighSurrogate(c) && i + 1 < text.length()
                        && Character.isLowSurrogate(text.charAt(i + 1));
                if (!paired) {
                    throw new PromptException("the " + what + " is not valid Unicode: a lone surrogate at index " + i);
                }
                i++;
            }
        }
    }
}
