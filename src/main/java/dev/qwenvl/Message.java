package dev.qwenvl;

import java.util.List;
import java.util.Objects;

/**
 * A user message: text and the images it is about. Where the text holds no {@link ChatMessage#MEDIA_MARKER}, one
 * marker per image is put in front of it (as llama-mtmd-cli does); where it holds markers, their count must equal
 * the number of images, and each image takes the place of its marker.
 *
 * @param text   the question or instruction
 * @param images the images, in marker order
 */
public record Message(String text, List<Image> images) {

    public Message {
        Objects.requireNonNull(text, "text");
        images = List.copyOf(images);
        Text.check("message text", text);
        int markers = countMarkers(text);
        if (markers != 0 && markers != images.size()) {
            throw new PromptException("the message text holds " + markers + " image markers (" + ChatMessage.MEDIA_MARKER
                    + ") but " + images.size() + " images were given; give one image per marker, or no markers");
        }
    }

    /** A message with text and any number of images. */
    public static Message of(String text, Image... images) {
        return new Message(text, List.of(images));
    }

    /** The text as the chat template receives it, with one marker per image. */
    String contentWithMarkers() {
        return countMarkers(text) == images.size() ? text : ChatMessage.MEDIA_MARKER.repeat(images.size()) + text;
    }

    private static int countMarkers(String text) {
        int n = 0;
        for (int at = text.indexOf(ChatMessage.MEDIA_MARKER); at >= 0;
             at = text.indexOf(ChatMessage.MEDIA_MARKER, at + ChatMessage.MEDIA_MARKER.length())) {
            n++;
        }
        return n;
    }
}
