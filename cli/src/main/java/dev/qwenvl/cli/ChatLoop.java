package dev.qwenvl.cli;

import dev.qwenvl.Conversation;
import dev.qwenvl.Image;
import dev.qwenvl.Message;
import dev.qwenvl.QwenVlException;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;

/**
 * The interactive chat ({@code -i}): lines from stdin, answers streamed to stdout, the {@value #PROMPT} prompt and
 * notices on stderr. One {@link Conversation} keeps every turn in its KV cache. A line starting with {@code /} is a
 * command; a failed turn prints its error and the chat goes on.
 */
final class ChatLoop {
    static final String PROMPT = "> ";
    static final String HELP = "commands: /image PATH|URL|DATA-URI (attach to the next message), /clear (forget the"
            + " conversation), /save FILE (history as JSON if FILE ends in .json, else text), /exit";

    private final Conversation conversation;
    private final ImageSources imageSources;
    private final Consumer<Message> answer;
    private final CancelOnExit cancel;
    private final PrintStream err;
    private final List<Image> pending = new ArrayList<>();

    /**
     * @param answer asks one message and prints the answer; its exceptions end the turn, not the chat
     */
    ChatLoop(Conversation conversation, ImageSources imageSources, Consumer<Message> answer, CancelOnExit cancel,
             PrintStream err) {
        this.conversation = conversation;
        this.imageSources = imageSources;
        this.answer = answer;
        this.cancel = cancel;
        this.err = err;
    }

    /** Asks {@code first} (if not null) with {@code images}, then reads lines until /exit or end of input. */
    void run(BufferedReader in, String first, List<Image> images) throws IOException {
        pending.addAll(images);
        err.println("qwenvl chat; " + HELP);
        if (first != null) {
            turn(first);
        }
        while (!cancel.exiting()) {
            err.print(PROMPT);
            err.flush();
            String line = in.readLine();
            if (line == null || cancel.exiting()) {
                return;
            }
            if (line.isBlank()) {
                continue;
            }
            if (line.startsWith("/")) {
                if (!command(line.strip())) {
                    return;
                }
            } else {
                turn(line);
            }
        }
    }

    /** Runs a command; false for /exit. */
    private boolean command(String line) {
        int space = line.indexOf(' ');
        String name = (space < 0 ? line : line.substring(0, space)).toLowerCase(Locale.ROOT);
        String arg = space < 0 ? "" : line.substring(space + 1).strip();
        switch (name) {
            case "/exit", "/quit" -> {
                return false;
            }
            case "/clear" -> {
                conversation.reset();
                pending.clear();
                err.println("(conversation cleared)");
            }
            case "/image" -> {
                if (arg.isEmpty() || arg.equals(ImageSources.STDIN)) {
                    err.println("qwenvl: /image needs a file path, an http(s) URL or a data URI");
                } else {
                    guarded(() -> {
                        Image image = imageSources.read(arg);
                        pending.add(image);
                        err.println("(" + image.width() + "x" + image.height() + " image attached to your next"
                                + " message)");
                    });
                }
            }
            case "/save" -> {
                if (arg.isEmpty()) {
                    err.println("qwenvl: /save needs a file name");
                } else {
                    guarded(() -> save(Path.of(arg)));
                }
            }
            default -> err.println("qwenvl: unknown command " + name + "; " + HELP);
        }
        return true;
    }

    private void turn(String text) {
        guarded(() -> {
            Message message = new Message(text, pending);
            pending.clear();
            answer.accept(message);
        });
    }

    private void save(Path file) {
        var history = conversation.history();
        String content = file.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".json")
                ? AnswerFormat.historyJson(history) : AnswerFormat.historyText(history);
        try {
            Files.writeString(file, content, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new InputException("cannot save the conversation to " + file + ": " + e, e);
        }
        err.println("(" + history.size() + " messages saved to " + file + ")");
    }

    /** Runs one step; a bad input or a failed generation is reported and the chat continues. */
    private void guarded(Runnable step) {
        try {
            step.run();
        } catch (QwenVlException | InputException | InvalidPathException e) {
            err.println("qwenvl: error: " + ExitCodes.oneLine(e));
        }
    }
}
