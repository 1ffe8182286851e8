package dev.qwenvl;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Locale;
import java.util.Objects;

/**
 * Downloads an image from an {@code http://} or {@code https://} URL into memory, within a byte limit and time
 * limits, and decodes it with an {@link ImageDecoder}. Redirects are followed, except from https to http.
 *
 * <p>Instances are immutable and thread-safe; each {@code with...} method returns a copy with one setting changed:
 * {@snippet :
 * Image cat = ImageDownloader.defaults().withMaxBytes(8 << 20).read(URI.create("https://example.org/cat.jpg"));
 * }
 *
 * <p>Defaults: at most {@value #DEFAULT_MAX_BYTES} bytes (64 MiB), {@link #DEFAULT_CONNECT_TIMEOUT} to connect and
 * {@link #DEFAULT_REQUEST_TIMEOUT} for the whole response, decoded by {@link ImageDecoder#defaults()}.
 */
public final class ImageDownloader {
    /** The default limit on the downloaded bytes: 64 MiB. */
    public static final int DEFAULT_MAX_BYTES = 64 * 1024 * 1024;
    /** The default time allowed to connect. */
    public static final Duration DEFAULT_CONNECT_TIMEOUT = Duration.ofSeconds(20);
    /** The default time allowed from sending the request to the end of the response. */
    public static final Duration DEFAULT_REQUEST_TIMEOUT = Duration.ofSeconds(120);

    private static final ImageDownloader DEFAULTS = new ImageDownloader(DEFAULT_MAX_BYTES, DEFAULT_CONNECT_TIMEOUT,
            DEFAULT_REQUEST_TIMEOUT, ImageDecoder.defaults());

    private final int maxBytes;
    private final Duration connectTimeout;
    private final Duration requestTimeout;
    private final ImageDecoder decoder;

    private ImageDownloader(int maxBytes, Duration connectTimeout, Duration requestTimeout, ImageDecoder decoder) {
        this.maxBytes = maxBytes;
        this.connectTimeout = connectTimeout;
        this.requestTimeout = requestTimeout;
        this.decoder = decoder;
    }

    /**
     * Returns the downloader with the default limits.
     *
     * @return the default downloader
     */
    public static ImageDownloader defaults() {
        return DEFAULTS;
    }

    /**
     * Returns a downloader that refuses responses of more than {@code maxBytes} bytes.
     *
     * @param maxBytes at least 1
     * @return a downloader with this limit and this downloader's other settings
     */
    public ImageDownloader withMaxBytes(int maxBytes) {
        if (maxBytes < 1) {
            throw new IllegalArgumentException("maxBytes must be at least 1, got " + maxBytes);
        }
        return new ImageDownloader(maxBytes, connectTimeout, requestTimeout, decoder);
    }

    /**
     * Returns a downloader with these time limits.
     *
     * @param connect the time allowed to connect; positive
     * @param request the time allowed from sending the request to the end of the response; positive
     * @return a downloader with these limits and this downloader's other settings
     */
    public ImageDownloader withTimeouts(Duration connect, Duration request) {
        return new ImageDownloader(maxBytes, positive(connect, "connect"), positive(request, "request"), decoder);
    }

    /**
     * Returns a downloader that decodes with {@code decoder}.
     *
     * @param decoder the decoder and its limits
     * @return a downloader with this decoder and this downloader's other settings
     */
    public ImageDownloader withDecoder(ImageDecoder decoder) {
        Objects.requireNonNull(decoder, "decoder");
        return new ImageDownloader(maxBytes, connectTimeout, requestTimeout, decoder);
    }

    /**
     * Returns the limit on the downloaded bytes.
     *
     * @return the most bytes a response may have
     */
    public int maxBytes() {
        return maxBytes;
    }

    /**
     * Downloads and decodes the image at {@code url}.
     *
     * @param url an {@code http} or {@code https} URL
     * @return the decoded image
     * @throws ImageException naming the URL, if it is not http(s), cannot be reached, answers other than HTTP 200,
     *                        takes too long, is larger than {@link #maxBytes()}, or does not hold a supported image
     */
    public Image read(URI url) {
        byte[] bytes = download(url);
        try {
            return decoder.decode(bytes);
        } catch (ImageException e) {
            throw new ImageException(url + ": " + e.getMessage(), e);
        }
    }

    /**
     * Downloads the bytes at {@code url}.
     *
     * @param url an {@code http} or {@code https} URL
     * @return the response body, at most {@link #maxBytes()} bytes
     * @throws ImageException naming the URL, if it is not http(s), cannot be reached, answers other than HTTP 200,
     *                        takes too long, or is larger than {@link #maxBytes()}
     */
    public byte[] download(URI url) {
        Objects.requireNonNull(url, "url");
        String scheme = url.getScheme() == null ? "" : url.getScheme().toLowerCase(Locale.ROOT);
        if (!scheme.equals("http") && !scheme.equals("https")) {
            throw new ImageException("image URL " + url + " is not http:// or https://");
        }
        // NORMAL follows redirects except from https to http; a client per call, as most images are local files.
        HttpClient http = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NORMAL)
                .connectTimeout(connectTimeout).build();
        HttpRequest request;
        try {
            request = HttpRequest.newBuilder(url).timeout(requestTimeout).header("Accept", "image/*").GET().build();
        } catch (IllegalArgumentException e) {
            throw new ImageException("image URL " + url + " is malformed: " + e.getMessage(), e);
        }
        try (http) {
            HttpResponse<InputStream> response = http.send(request, HttpResponse.BodyHandlers.ofInputStream());
            try (InputStream body = response.body()) {
                if (response.statusCode() != 200) {
                    throw new ImageException("image URL " + url + " answered HTTP " + response.statusCode());
                }
                long declared = response.headers().firstValueAsLong("Content-Length").orElse(-1);
                byte[] bytes = declared > maxBytes ? null : body.readNBytes(maxBytes + 1);
                if (bytes == null || bytes.length > maxBytes) {
                    throw new ImageException("image URL " + url + " is larger than " + maxBytes + " bytes; download"
                            + " it and pass the file instead");
                }
                return bytes;
            }
        } catch (IOException e) {
            throw new ImageException("cannot download the image " + url + ": " + (e.getMessage() == null
                    ? e.getClass().getSimpleName() : e.getMessage()), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ImageException("interrupted while downloading the image " + url, e);
        }
    }

    private static Duration positive(Duration d, String name) {
        Objects.requireNonNull(d, name);
        if (d.isNegative() || d.isZero()) {
            throw new IllegalArgumentException("the " + name + " timeout must be positive, got " + d);
        }
        return d;
    }

    /** Returns the limits, e.g. {@code ImageDownloader[maxBytes=67108864, connect=PT20S, request=PT2M]}. */
    @Override
    public String toString() {
        return "ImageDownloader[maxBytes=" + maxBytes + ", connect=" + connectTimeout + ", request=" + requestTimeout
                + ", decoder=" + decoder + "]";
    }
}
