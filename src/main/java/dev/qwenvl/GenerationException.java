package dev.qwenvl;

/** llama.cpp failed while evaluating a prompt, an image or a generated token; the message carries its return code. */
public final class GenerationException extends QwenVlException {
    public GenerationException(String message) {
        super(message);
    }
}
