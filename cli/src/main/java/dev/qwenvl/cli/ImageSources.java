package dev.qwenvl.cli;

import dev.qwenvl.Image;
import dev.qwenvl.ImageException;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.function.Supplier;

/**
 * Turns an {@code --image} (or {@code /image}) argument into an {@link Image}: a file path, an {@code http(s)://} URL
 * (downloaded into memory, at most {@value #MAX_DOWNLOAD_BYTES} bytes), a {@code data:image/...;base64,} URI, or
 * {@code -} for the bytes on stdin.
 */
final class ImageSources {
    static final String STDIN = "-";
    static final int MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024;
    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(20);
    private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(120);

    private final InputStream stdin;
    private HttpClient http; // created on the first URL: most runs read local files

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
            byte[] bytes = download(source);
            return prefixed(source, () -> Image.decode(bytes));
        }
        return Image.read(Path.of(source));
    }

    private byte[] download(String url) {
        URI uri;
        try {
            uri = new URI(url);
        } catch (URISyntaxException e) {
            throw new InputException("image URL " + url + " is malformed: " + e.getMessage(), e);
        }
        if (http == null) {
            // NORMAL follows redirects except from https to http.
            http = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NORMAL).connectTimeout(CONNECT_TIMEOUT)
                    .build();
        }
        HttpRequest request = HttpRequest.newBuilder(uri).timeout(REQUEST_TIMEOUT).header("Accept", "image/*").GET()
                .build();
        try {
            HttpResponse<InputStream> response = http.send(request, HttpResponse.BodyHandlers.ofInputStream());
            try (InputStream body = response.body()) {
                if (response.statusCode() != 200) {
                    throw new InputException("image URL " + url + " answered HTTP " + response.statusCode());
                }
                long declared = response.headers().firstValueAsLong("Content-Length").orElse(-1);
                if (declared > MAX_DOWNLOAD_BYTES) {
                    throw tooLarge(url);
                }
                byte[] bytes = body.readNBytes(MAX_DOWNLOAD_BYTES + 1);
                if (bytes.length > MAX_DOWNLOAD_BYTES) {
                    throw tooLarge(url);
                }
                return bytes;
            }
        } catch (IOException e) {
            throw new InputException("cannot download the image " + url + ": " + (e.getMessage() == null
                    ? e.getClass().getSimpleName() : e.getMessage()), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InputException("interrupted while downloading the image " + url, e);
        }
    }

    private static InputException tooLarge(String url) {
        return new InputException("image URL " + url + " is larger than " + MAX_DOWNLOAD_BYTES + " bytes; download it"
                + " and pass the file instead");
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
