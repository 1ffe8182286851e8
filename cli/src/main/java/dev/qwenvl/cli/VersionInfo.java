package dev.qwenvl.cli;

import dev.qwenvl.natives.NativeLibraries;
import picocli.CommandLine;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

import static dev.qwenvl.bindings.qwenvl_h.ggml_backend_load_all_from_path;
import static dev.qwenvl.bindings.qwenvl_h.ggml_backend_reg_count;
import static dev.qwenvl.bindings.qwenvl_h.ggml_backend_reg_get;
import static dev.qwenvl.bindings.qwenvl_h.ggml_backend_reg_name;

/**
 * {@code qwenvl --version}: this project's version (from {@code qwenvl-cli.properties}, filtered by Maven), the
 * llama.cpp release and source tree it was built from ({@code native/llama-cpp.lock}, copied into the jar by the
 * build), and the ggml backends the loaded native libraries offer.
 */
final class VersionInfo implements CommandLine.IVersionProvider {
    static final String PROPERTIES = "qwenvl-cli.properties";
    static final String LOCK = "llama-cpp.lock";

    @Override
    public String[] getVersion() {
        Properties project = load(PROPERTIES);
        Properties lock = load(LOCK);
        List<String> lines = new ArrayList<>();
        lines.add("qwenvl " + project.getProperty("version", "unknown"));
        lines.add("llama.cpp " + lock.getProperty("version", "unknown") + " (" + lock.getProperty("upstream_repo", "?")
                + " " + lock.getProperty("upstream_tag", "?") + ", tree " + lock.getProperty("tree", "?") + ")");
        lines.addAll(backends());
        lines.add("java " + Runtime.version() + " (" + System.getProperty("java.vm.name") + ")");
        return lines.toArray(String[]::new);
    }

    /** The native directory and backend names, or why the libraries could not be loaded. */
    private static List<String> backends() {
        try {
            Path dir = NativeLibraries.load();
            if (NativeLibraries.hasBackendModules(dir)) {
                // the portable flavour keeps its CPU variants as modules that only this call registers
                try (Arena arena = Arena.ofConfined()) {
                    ggml_backend_load_all_from_path(arena.allocateFrom(dir.toString()));
                }
            }
            List<String> names = new ArrayList<>();
            for (long i = 0, n = ggml_backend_reg_count(); i < n; i++) {
                MemorySegment name = ggml_backend_reg_name(ggml_backend_reg_get(i));
                names.add(name.reinterpret(Long.MAX_VALUE).getString(0));
            }
            return List.of("backends: " + (names.isEmpty() ? "(none)" : String.join(", ", names)),
                    "natives: " + dir);
        } catch (RuntimeException | LinkageError e) {
            return List.of("backends: unavailable (" + ExitCodes.oneLine(e) + ")");
        }
    }

    private static Properties load(String resource) {
        Properties p = new Properties();
        try (InputStream in = VersionInfo.class.getResourceAsStream(resource)) {
            if (in != null) {
                p.load(in);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the resource " + resource + " from the qwenvl jar", e);
        }
        return p;
    }
}
