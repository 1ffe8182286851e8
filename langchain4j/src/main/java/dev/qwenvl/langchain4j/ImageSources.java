package dev.qwenvl.langchain4j;

import dev.langchain4j.data.message.ImageContent;
import dev.qwenvl.Image;
import dev.qwenvl.ImageDecoder;
import dev.qwenvl.ImageDownloader;
import dev.qwenvl.ImageException;

import java.net.URI;
import java.nio.file.Path;
import java.util.Base64;
import java.util.Locale;
import java.util.Objects;

/**
 * Where the images of LangChain4j {@link ImageContent}s may come from, and the limits that apply. Immutable.
 *
 * <p>By default an image may be base64 data ({@code ImageContent.from(base64, mimeType)}, and so
 * {@code ImageContent.from(Path, mimeType)}), a {@code data:} URI, or a {@code file:} URL; {@code http(s)} URLs are
 * refused until {@link #withDownloads(ImageDownloader)} opts in, because a message an end user wrote could otherwise
 * make the application fetch any address. Where messages come from untrusted users, {@link #withoutFiles()} refuses
 * {@code file:} URLs too. Every image is decoded in Java by {@link ImageDecoder}, within its limits.
 * {@snippet :
 * ImageSources sources = ImageSources.defaults()
 *         .withDownloads(ImageDownloader.defaults().withMaxBytes(8 << 20)
 *                 .withTimeouts(Duration.ofSeconds(5), Duration.ofSeconds(30)));
 * }
 */
public final class ImageSources {
    private static final ImageSources DEFAULTS = new ImageSources(ImageDecoder.defaults(), true, null);

    private final ImageDecoder decoder;
    private final boolean files;
    private final ImageDownloader downloads; // null: http(s) refused

    private ImageSources(ImageDecoder decoder, boolean files, ImageDownloader downloads) {
        this.decoder = decoder;
        this.files = files;
        this.downloads = downloads;
    }

    /**
     * Returns the default sources: base64 data, {@code data:} URIs and {@code file:} URLs, decoded with
     * {@link ImageDecoder#defaults()}; no downloads.
     *
     * @return the default sources
     */
    public static ImageSources defaults() {
        return DEFAULTS;
    }

    /**
     * Returns sources that also download {@code http(s)} URLs, with the downloader's limits and this decoder.
     *
     * @param downloader the byte and time limits of a download
     * @return sources that allow downloads, with this object's other settings
     */
    public ImageSources withDownloads(ImageDownloader downloader) {
        return new ImageSources(decoder, files, Objects.requireNonNull(downloader, "downloader"));
    }

    /**
     * Returns sources that refuse {@code file:} URLs.
     *
     * @return sources without local files, with this object's other settings
     */
    public ImageSources withoutFiles() {
        return new ImageSources(decoder, false, downloads);
    }

    /**
     * Returns sources that decode with {@code decoder} (and its pixel and byte limits).
     *
     * @param decoder the decoder
     * @return sources with this decoder, and this object's other settings
     */
    public ImageSources withDecoder(ImageDecoder decoder) {
        Objects.requireNonNull(decoder, "decoder");
        return new ImageSources(decoder, files, downloads == null ? null : downloads.withDecoder(decoder));
    }

    /**
     * Reads and decodes the image of {@code content}.
     *
     * @param content an image given as base64 data or a URL
     * @return the decoded image
     * @throws ImageException if the image cannot be read or decoded, or comes from a source these settings refuse
     */
    public Image read(ImageContent content) {
        dev.langchain4j.data.image.Image image = content.image();
        if (image.base64Data() != null) {
            String source = "base64 image (" + (image.mimeType() == null ? "no MIME type" : image.mimeType()) + ")";
            byte[] bytes;
            try {
                bytes = Base64.getMimeDecoder().decode(image.base64Data());
            } catch (IllegalArgumentException e) {
                throw new ImageException(source + ": invalid base64 (" + e.getMessage() + ")", e);
            }
            try {
                return decoder.decode(bytes);
            } catch (ImageException e) {
                throw new ImageException(source + ": " + e.getMessage(), e);
            }
        }
        URI url = image.url();
        if (url == null) {
            throw new ImageException("an ImageContent has neither base64 data nor a URL; give one of them");
        }
        String scheme = url.getScheme() == null ? "" : url.getScheme().toLowerCase(Locale.ROOT);
        return switch (scheme) {
            case "data" -> decoder.fromDataUri(url.toString());
            case "file" -> {
                if (!files) {
                    throw new ImageException("image URL " + url + ": file: URLs are refused by these ImageSources;"
                            + " send the image as base64 data");
                }
                Path path;
                try {
                    path = Path.of(url);
                } catch (IllegalArgumentException | java.nio.file.FileSystemNotFoundException e) {
                    throw new ImageException("image URL " + url + " does not name a local file: " + e.getMessage(), e);
                }
                yield decoder.read(path);
            }
            case "http", "https" -> {
                if (downloads == null) {
                    throw new ImageException("image URL " + url + ": downloads are off; opt in with ImageSources"
                            + ".defaults().withDownloads(ImageDownloader.defaults()), or send base64 data");
                }
                yield downloads.read(url);
            }
            default -> throw new ImageException("image URL " + url + ": scheme '" + scheme + "' is not supported;"
                    + " use base64 data, data:, file: or http(s):");
        };
    }

    /** Returns the settings, e.g. {@code ImageSources[files=true, downloads=off, decoder=...]}. */
    @Override
    public String toString() {
        return "ImageSources[files=" + files + ", downloads=" + (downloads == null ? "off" : downloads)
                + ", decoder=" + decoder + "]";
    }
}
