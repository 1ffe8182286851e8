package dev.qwenvl.cli.hub;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The Hugging Face cache layout, shared with {@code huggingface_hub} and llama.cpp:
 * {@code ROOT/models--org--name/blobs/<sha256>}, {@code snapshots/<commit>/<file>} (a relative symlink to the blob)
 * and {@code refs/main} (the commit). Partial downloads live beside the blobs as {@code <sha256>.incomplete}.
 */
final class HubCache {

    private static final Pattern COMMIT = Pattern.compile("[0-9a-f]{40}");

    private final Path root;

    HubCache(Path root) {
        this.root = root;
    }

    /**
     * The cache root as {@code huggingface_hub} finds it: {@code HF_HUB_CACHE}, the legacy
     * {@code HUGGINGFACE_HUB_CACHE}, {@code HF_HOME/hub}, {@code XDG_CACHE_HOME/huggingface/hub}, then
     * {@code ~/.cache/huggingface/hub}.
     */
    static Path defaultRoot(Map<String, String> env, String userHome) {
        for (String var : List.of("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE")) {
            if (!env.getOrDefault(var, "").isEmpty()) {
                return Path.of(env.get(var));
            }
        }
        if (!env.getOrDefault("HF_HOME", "").isEmpty()) {
            return Path.of(env.get("HF_HOME"), "hub");
        }
        if (!env.getOrDefault("XDG_CACHE_HOME", "").isEmpty()) {
            return Path.of(env.get("XDG_CACHE_HOME"), "huggingface", "hub");
        }
        return Path.of(userHome, ".cache", "huggingface", "hub");
    }

    Path root() {
        return root;
    }

    Path repoDir(HubModelRef ref) {
        return root.resolve(ref.cacheFolderName());
    }

    Path blob(HubModelRef ref, String oid) {
        return repoDir(ref).resolve("blobs").resolve(oid);
    }

    Path partial(HubModelRef ref, String oid) {
        return repoDir(ref).resolve("blobs").resolve(oid + ".incomplete");
    }

    /** Where {@code file} of {@code commit} appears; refuses paths that would escape the snapshot. */
    Path snapshotFile(HubModelRef ref, String commit, String file) {
        Path snapshot = repoDir(ref).resolve("snapshots").resolve(commit);
        Path target = snapshot.resolve(file).normalize();
        if (file.startsWith("/") || !target.startsWith(snapshot) || target.equals(snapshot)) {
            throw new HubException(HubException.Reason.HTTP, "the Hub listed a file outside the repository: " + file);
        }
        return target;
    }

    /** The commit {@code refs/main} names, if the cache holds one. */
    Optional<String> mainCommit(HubModelRef ref) {
        Path main = repoDir(ref).resolve("refs").resolve("main");
        if (!Files.isRegularFile(main)) {
            return Optional.empty();
        }
        String commit = io(() -> Files.readString(main, StandardCharsets.UTF_8)).strip();
        return COMMIT.matcher(commit).matches() ? Optional.of(commit) : Optional.empty();
    }

    /** Points {@code refs/main} at {@code commit}, replacing the file atomically. */
    void writeMainCommit(HubModelRef ref, String commit) {
        Path main = repoDir(ref).resolve("refs").resolve("main");
        io(() -> {
            Files.createDirectories(main.getParent());
            Path tmp = Files.createTempFile(main.getParent(), "main", ".tmp");
            Files.writeString(tmp, commit, StandardCharsets.UTF_8);
            return Files.move(tmp, main, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        });
    }

    /** The files of a snapshot whose content is present (links to missing blobs are skipped), relative, '/'-separated. */
    List<String> snapshotFiles(HubModelRef ref, String commit) {
        Path snapshot = repoDir(ref).resolve("snapshots").resolve(commit);
        if (!Files.isDirectory(snapshot)) {
            return List.of();
        }
        return io(() -> {
            try (Stream<Path> walk = Files.walk(snapshot)) {
                return walk.filter(Files::isRegularFile)
                        .map(p -> snapshot.relativize(p).toString().replace('\\', '/'))
                        .sorted()
                        .toList();
            }
        });
    }

    /**
     * Makes {@code link} a relative symlink to {@code blob}, atomically; where the file system has no symlinks the
     * blob is copied instead, as {@code huggingface_hub} does on Windows without developer mode.
     */
    void link(Path blob, Path link) {
        io(() -> {
            Files.createDirectories(link.getParent());
            Path tmp = link.resolveSibling(link.getFileName() + ".tmp");
            Files.deleteIfExists(tmp);
            try {
                Files.createSymbolicLink(tmp, link.getParent().relativize(blob));
            } catch (UnsupportedOperationException | FileSystemException e) {
                Files.copy(blob, tmp);
            }
            return Files.move(tmp, link, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        });
    }

    /** An I/O step on the cache; failures become {@link HubException.Reason#CACHE_IO} naming the cache. */
    <T> T io(IoStep<T> step) {
        try {
            return step.run();
        } catch (IOException | UncheckedIOException e) {
            throw new HubException(HubException.Reason.CACHE_IO,
                    "cannot use the Hugging Face cache at " + root + ": " + e.getMessage(), e);
        }
    }

    /** One file-system step that may fail. */
    interface IoStep<T> {
        T run() throws IOException;
    }
}
