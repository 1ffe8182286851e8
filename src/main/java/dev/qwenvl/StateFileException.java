package dev.qwenvl;

import java.nio.file.Path;

/** A saved conversation cannot be restored: not such a file, damaged, or saved from other model files. */
public final class StateFileException extends QwenVlException {
    public StateFileException(Path file, String problem) {
        super(file + ": " + problem);
    }
}
