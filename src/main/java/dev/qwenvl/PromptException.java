package dev.qwenvl;

/** A prompt or message cannot be used: invalid text, an image count that differs from its markers, a template error. */
public final class PromptException extends QwenVlException {
    public PromptException(String message) {
        super(message);
    }
}
