package dev.qwenvl.cli;

import dev.qwenvl.Backends;
import picocli.CommandLine;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Properties;
import java.util.stream.Collectors;

/**
 * {@code qwenvl --version}: this project's version (from {@code qwenvl-cli.properties}, filtered by Maven), the
 * llama.cpp release and source tree it was built from ({@code native/llama-cpp.lock}, copied into the jar by the
 * build), and the backend and devices the loaded native libraries brought up ({@link Backends}).
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

    /** The backend and devices in use, every device, the native directory, or why the libraries could not load. */
    private static List<String> backends() {
        try {
            Backends b = Backends.current();
            List<String> lines = new ArrayList<>();
            lines.add("backend: " + b.summary());
            lines.add("devices: " + b.devices().stream().map(d -> d.name() + " [" + d.backend() + ", "
                    + d.kind().name().toLowerCase(Locale.ROOT) + "]").collect(Collectors.joining(", ")));
            b.fallback().ifPresent(lines::add);
            lines.add("natives: " + b.directory());
            return lines;
        } catch (RuntimeException | LinkageError e) {
            return List.of("backend: unavailable (" + ExitCodes.oneLine(e) + ")");
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
