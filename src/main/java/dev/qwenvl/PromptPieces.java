package dev.qwenvl;

import java.util.ArrayList;
import java.util.List;

/**
 * A formatted turn cut into what libmtmd tokenizes: template text (special tokens read), message text (read as plain
 * text when the conversation asks for it) and images. Message text is found by rendering the template with a
 * placeholder standing for each run of it, so no user text is ever parsed for special tokens by mistake.
 */
final class PromptPieces {
    /** One piece: text (with or without special-token parsing), or the image with this index. */
    record Piece(String text, boolean special, int image) {
        boolean isImage() {
            return image >= 0;
        }
    }

    private final String placeholder;
    private final List<String> texts;

    private PromptPieces(String placeholder, List<String> texts) {
        this.placeholder = placeholder;
        this.texts = texts;
    }

    /** For a message whose text is read for special tokens: nothing is replaced. */
    static PromptPieces special() {
        return new PromptPieces(null, List.of());
    }

    /** For a message whose text must stay plain: each non-empty run of text between image markers is replaced. */
    static PromptPieces plain(String content) {
        String placeholder = "<__qwenvl_text_" + Long.toHexString(System.nanoTime()) + "__>";
        while (content.contains(placeholder)) {
            placeholder = "<__qwenvl_text_" + Long.toHexString(System.nanoTime() + 1) + "__>";
        }
        List<String> texts = new ArrayList<>();
        for (String run : splitOn(content, ChatMessage.MEDIA_MARKER)) {
            if (!run.isEmpty()) {
                texts.add(run);
            }
        }
        return new PromptPieces(placeholder, texts);
    }

    /** The content the template renders: the message's own, or its image markers with placeholders between. */
    String templateContent(String content) {
        if (placeholder == null) {
            return content;
        }
        StringBuilder b = new StringBuilder();
        List<String> runs = splitOn(content, ChatMessage.MEDIA_MARKER);
        for (int i = 0; i < runs.size(); i++) {
            if (i > 0) {
                b.append(ChatMessage.MEDIA_MARKER);
            }
            if (!runs.get(i).isEmpty()) {
                b.append(placeholder);
            }
        }
        return b.toString();
    }

    /** Cuts the rendered turn into pieces, putting the message text back where its placeholders stand. */
    List<Piece> cut(String formatted) {
        List<Piece> pieces = new ArrayList<>();
        int images = 0;
        int textIndex = 0;
        int start = 0;
        while (true) {
            int marker = formatted.indexOf(ChatMessage.MEDIA_MARKER, start);
            int text = placeholder == null ? -1 : formatted.indexOf(placeholder, start);
            int at = marker < 0 ? text : text < 0 ? marker : Math.min(marker, text);
            if (at < 0) {
                break;
            }
            pieces.add(new Piece(formatted.substring(start, at), true, -1));
            if (at == marker) {
                pieces.add(new Piece(null, false, images++));
                start = at + ChatMessage.MEDIA_MARKER.length();
            } else {
                if (textIndex == texts.size()) {
                    throw templateChangesText();
                }
                pieces.add(new Piece(texts.get(textIndex++), false, -1));
                start = at + placeholder.length();
            }
        }
        if (textIndex != texts.size()) {
            throw templateChangesText();
        }
        pieces.add(new Piece(formatted.substring(start), true, -1));
        return pieces;
    }

    private static PromptException templateChangesText() {
        return new PromptException("the chat template rewrites message text, so the text cannot be kept apart from"
                + " special tokens; use a template that copies message content, or ConversationOptions"
                + ".withSpecialTokens(true)");
    }

    private static List<String> splitOn(String s, String marker) {
        List<String> runs = new ArrayList<>();
        int start = 0;
        for (int at = s.indexOf(marker); at >= 0; at = s.indexOf(marker, start)) {
            runs.add(s.substring(start, at));
            start = at + marker.length();
        }
        runs.add(s.substring(start));
        return runs;
    }
}
