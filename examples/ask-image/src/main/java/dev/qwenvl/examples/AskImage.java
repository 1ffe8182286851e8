package dev.qwenvl.examples;

import dev.qwenvl.Conversation;
import dev.qwenvl.Image;
import dev.qwenvl.Message;
import dev.qwenvl.SamplingOptions;
import dev.qwenvl.VisionLanguageModel;

import java.nio.file.Path;

/** Asks one question about one image and prints the answer as it is generated (greedy, at most 32 tokens). */
public final class AskImage {
    private AskImage() {
    }

    /**
     * Runs the example.
     *
     * @param args the text model GGUF, its mmproj GGUF, an image file and the question
     */
    public static void main(String[] args) {
        if (args.length != 4) {
            System.err.println("usage: AskImage TEXT.gguf MMPROJ.gguf IMAGE QUESTION");
            System.exit(2);
        }
        try (VisionLanguageModel model = VisionLanguageModel.load(Path.of(args[0]), Path.of(args[1]));
             Conversation chat = model.newConversation()) {
            chat.ask(Message.of(args[3], Image.read(Path.of(args[2]))), SamplingOptions.greedy().withMaxTokens(32),
                    System.out::print);
            System.out.println();
        }
    }
}
