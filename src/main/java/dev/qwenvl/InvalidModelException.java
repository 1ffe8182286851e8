package dev.qwenvl;

import java.nio.file.Path;

/** A model or mmproj file is missing, is not a GGUF, is damaged, or does not fit its partner. Checked in Java first. */
public final class InvalidModelException extends QwenVlException {
    private final Path file;

    public InvalidModelException(Path file, String problem) {
        super(file + ": " + problem);
        this.file = file;
    }

    /** The file at fault. */
    public Path file() {
        return file;
    }
}
