package dev.qwenvl.cli;

import dev.qwenvl.Image;
import dev.qwenvl.ImageDownloader;
import dev.qwenvl.ImageException;

import java.io.InputStream;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.function.Supplier;

/**
 * Turns an {@code --image} (or {@code /image}) argument into an {@link Image}: a file path, an {@code http(s)://} URL
 * (downloaded into memory by {@link ImageDownloader#defaults()}, at most 64 MiB), a {@code data:image/...;base64,}
 * URI, or {@code -} for the bytes on stdin.
 */
final class ImageSources {
    static final String STDIN = "-";

    private final InputStream stdin;

    ImageSources(InputStream stdin) {
        this.stdin = stdin;
    }

    /** Reads and decodes the image {@code source} names. */
    Image read(String source) {
        if (source.equals(STDIN)) {
            return prefixed("--image - (stdin)", () -> Image.decode(stdin));
        }
        if (source.regionMatches(true, 0, "data:", 0, 5)) {
            return Image.fromDataUri(source);
        }
        String lower = source.toLowerCase(Locale.ROOT);
        if (lower.startsWith("http://") || lower.startsWith("https://")) {
            return download(source);
        }
        return Image.read(Path.of(source));
    }

    private static Image download(String url) {
        URI uri;
        try {
            uri = new URI(url);
        } catch (URISyntaxException e) {
            throw new InputException("image URL " + url + " is malformed: " + e.getMessage(), e);
        }
        return ImageDownloader.defaults().read(uri);
    }

    /** Decodes, putting the source the user typed in front of the decoder's own description of the bytes. */
    private static Image prefixed(String source, Supplier<Image> decode) {
        try {
            return decode.get();
        } catch (ImageException e) {
            throw new ImageException(source + ": " + e.getMessage(), e);
        }
    }
}
