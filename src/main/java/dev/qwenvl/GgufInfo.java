package dev.qwenvl;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * A GGUF file's header: its key/values and tensor count, read and bounds-checked in Java without loading weights
 * (what {@code qwenvl info} prints).
 *
 * <pre>{@code
 * GgufInfo gguf = GgufInfo.read(Path.of("Qwen2.5-VL-3B-Instruct-Q4_K_M.gguf"));
 * System.out.println(gguf.string("general.architecture").orElse("?") + ", " + gguf.tensorCount() + " tensors");
 * }</pre>
 */
public final class GgufInfo {
    private final GgufMetadata metadata;
    private final long fileSize;

    private GgufInfo(GgufMetadata metadata, long fileSize) {
        this.metadata = metadata;
        this.fileSize = fileSize;
    }

    /**
     * Reads the header of {@code file}.
     *
     * @throws InvalidModelException if the file is missing, not a GGUF, or damaged
     */
    public static GgufInfo read(Path file) {
        GgufMetadata m = GgufMetadata.read(file, NativeRuntime.ggmlTypes());
        try {
            return new GgufInfo(m, Files.size(file));
        } catch (IOException e) {
            throw new InvalidModelException(file, "cannot be read: " + e.getMessage());
        }
    }

    /** The file read. */
    public Path file() {
        return metadata.file();
    }

    /** The file's size in bytes. */
    public long fileSize() {
        return fileSize;
    }

    /** A string value; empty if the key is absent or holds another type. */
    public Optional<String> string(String key) {
        return Optional.ofNullable(metadata.string(key));
    }

    /**
     * A non-negative integer value of any width; empty if the key is absent.
     *
     * @throws InvalidModelException if the key holds another type
     */
    public OptionalLong unsigned(String key) {
        Long v = metadata.unsigned(key);
        return v == null ? OptionalLong.empty() : OptionalLong.of(v);
    }

    /** How many tensors the file holds. */
    public int tensorCount() {
        return metadata.tensorCount();
    }
}
