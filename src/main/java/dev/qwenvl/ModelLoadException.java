package dev.qwenvl;

/** llama.cpp refused a model, mmproj or context that passed the Java-side checks (its log, at WARNING, says why). */
public final class ModelLoadException extends QwenVlException {
    public ModelLoadException(String message) {
        super(message);
    }
}
