package dev.qwenvl;

import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.lang.System.Logger.Level;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.regex.Pattern;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.MemoryCacheImageInputStream;

/**
 * Decodes JPEG, PNG, GIF, BMP and WebP images with ImageIO into {@link Image}s, within limits that make untrusted
 * input safe to hand over: no input can make it allocate more than the limits allow, and none reaches llama.cpp's
 * stb_image. The decoders are Java code from the JDK and TwelveMonkeys, except for two native libraries of the JDK
 * itself, kept up to date with it: JPEG entropy decoding is the JDK's libjpeg, and zlib inflates PNG data.
 *
 * <p>Instances are immutable and thread-safe; each {@code with...} method returns a copy with one setting changed:
 * {@snippet :
 * ImageDecoder decoder = ImageDecoder.defaults().withMaxPixels(100_000_000).withExifOrientation(false);
 * Image scan = decoder.read(Path.of("scan.png"));
 * }
 *
 * <p>What it does:
 * <ul>
 * <li>The format is found from the first bytes of the content (never from a file name): JPEG, PNG, GIF, BMP, WebP.
 *     JPEG goes through the TwelveMonkeys reader, which also decodes CMYK and YCCK JPEGs (via their ICC profile or a
 *     generic CMYK one); WebP (lossy, lossless, with alpha) through TwelveMonkeys; the rest through the JDK.</li>
 * <li>The width and height are read from the header and checked against the limits <em>before</em> the pixels are
 *     decoded, so a decompression bomb (a few KB declaring 50000x50000) fails fast without allocating.</li>
 * <li>The result is 8-bit sRGB: palette, grayscale (replicated, not re-gamma'd), 16-bit (rounded) and CMYK images
 *     are converted, and alpha is composited over white.</li>
 * <li>For JPEG, the EXIF orientation (tag 0x0112, values 1 to 8) is applied, so the image is upright; a malformed
 *     EXIF block is ignored with a warning on the {@code System.Logger} named after {@code dev.qwenvl.ExifOrientation}.
 *     Orientation metadata in other formats is ignored.</li>
 * <li>Animated GIF and WebP files and other multi-image files give their first image. (The JDK's GIF reader
 *     misplaces the rows of interlaced GIFs only 2 to 4 pixels high.)</li>
 * <li>Truncated or corrupt data is an {@link ImageException}: the JDK's PNG, GIF and BMP readers and the WebP reader
 *     throw on missing data, and a JPEG whose data ends early (the decoder's "premature end" warning) is rejected.
 *     Other decoder warnings are logged, and the image is kept. A PNG cut off after its pixel data but before its
 *     end chunk decodes in full and is accepted.</li>
 * </ul>
 *
 * <p>Defaults: at most {@value #DEFAULT_MAX_PIXELS} pixels, {@value #DEFAULT_MAX_DIMENSION} pixels per side and
 * {@value #DEFAULT_MAX_BYTES} bytes of input (256 MiB), with EXIF orientation applied. Decoding an image at the pixel
 * limit holds its decoded raster and its RGB copy at once: about 6 bytes per pixel, 300 MB for 50 megapixels.
 */
public final class ImageDecoder {
    /** The default limit on width times height: 50 megapixels, more than any camera photo of 2025. */
    public static final long DEFAULT_MAX_PIXELS = 50_000_000L;
    /** The default limit on the width and on the height. */
    public static final int DEFAULT_MAX_DIMENSION = 32_768;
    /** The default limit on the size of the encoded input: 256 MiB. */
    public static final int DEFAULT_MAX_BYTES = 256 * 1024 * 1024;

    private static final ImageDecoder DEFAULTS =
            new ImageDecoder(DEFAULT_MAX_PIXELS, DEFAULT_MAX_DIMENSION, DEFAULT_MAX_BYTES, true);
    private static final System.Logger LOG = System.getLogger(ImageDecoder.class.getName());
    private static final Pattern WHITESPACE = Pattern.compile("\\s+");
    private static final String REENCODE = "re-encode it as PNG or JPEG";
    private static final int GIF_HEADER_LENGTH = 13; // signature, logical screen size, flags, background, aspect

    private final long maxPixels;
    private final int maxDimension;
    private final int maxBytes;
    private final boolean exifOrientation;

    private ImageDecoder(long maxPixels, int maxDimension, int maxBytes, boolean exifOrientation) {
        this.maxPixels = maxPixels;
        this.maxDimension = maxDimension;
        this.maxBytes = maxBytes;
        this.exifOrientation = exifOrientation;
    }

    /**
     * Returns the decoder with the default limits and EXIF orientation applied.
     *
     * @return the default decoder
     */
    public static ImageDecoder defaults() {
        return DEFAULTS;
    }

    /**
     * Returns a decoder that accepts images of at most {@code maxPixels} pixels (width times height).
     *
     * @param maxPixels from 1 to {@code (Integer.MAX_VALUE - 8) / 3}, as the RGB pixels must fit in one array
     * @return a decoder with this limit and this decoder's other settings
     * @throws IllegalArgumentException if {@code maxPixels} is out of range
     */
    public ImageDecoder withMaxPixels(long maxPixels) {
        long most = RgbConversion.MAX_ARRAY_LENGTH / 3;
        if (maxPixels < 1 || maxPixels > most) {
            throw new IllegalArgumentException("maxPixels must be from 1 to " + most + ": " + maxPixels);
        }
        return new ImageDecoder(maxPixels, maxDimension, maxBytes, exifOrientation);
    }

    /**
     * Returns a decoder that accepts images at most {@code maxDimension} pixels wide and high.
     *
     * @param maxDimension at least 1
     * @return a decoder with this limit and this decoder's other settings
     * @throws IllegalArgumentException if {@code maxDimension} is not positive
     */
    public ImageDecoder withMaxDimension(int maxDimension) {
        if (maxDimension < 1) {
            throw new IllegalArgumentException("maxDimension must be positive: " + maxDimension);
        }
        return new ImageDecoder(maxPixels, maxDimension, maxBytes, exifOrientation);
    }

    /**
     * Returns a decoder that reads at most {@code maxBytes} bytes of encoded input (file, stream, array or data URI).
     *
     * @param maxBytes from 1 to {@code Integer.MAX_VALUE - 9}
     * @return a decoder with this limit and this decoder's other settings
     * @throws IllegalArgumentException if {@code maxBytes} is out of range
     */
    public ImageDecoder withMaxBytes(int maxBytes) {
        if (maxBytes < 1 || maxBytes >= RgbConversion.MAX_ARRAY_LENGTH) {
            throw new IllegalArgumentException("maxBytes must be from 1 to " + (RgbConversion.MAX_ARRAY_LENGTH - 1)
                    + ": " + maxBytes);
        }
        return new ImageDecoder(maxPixels, maxDimension, maxBytes, exifOrientation);
    }

    /**
     * Returns a decoder that applies (or, with {@code false}, ignores) the EXIF orientation of JPEG images.
     * Ignoring it gives the pixels as stored, as llama.cpp's own decoder does.
     *
     * @param apply whether to turn JPEG images upright
     * @return a decoder with this setting and this decoder's limits
     */
    public ImageDecoder withExifOrientation(boolean apply) {
        return new ImageDecoder(maxPixels, maxDimension, maxBytes, apply);
    }

    /**
     * Returns the limit on width times height.
     *
     * @return the most pixels an image may have
     */
    public long maxPixels() {
        return maxPixels;
    }

    /**
     * Returns the limit on the width and on the height.
     *
     * @return the most pixels per side
     */
    public int maxDimension() {
        return maxDimension;
    }

    /**
     * Returns the limit on the size of the encoded input.
     *
     * @return the most bytes read
     */
    public int maxBytes() {
        return maxBytes;
    }

    /**
     * Returns whether the EXIF orientation of JPEG images is applied.
     *
     * @return {@code true} if JPEG images are turned upright
     */
    public boolean exifOrientation() {
        return exifOrientation;
    }

    /**
     * Reads and decodes an image file; the format is found from the content, not the name.
     *
     * @param path a JPEG, PNG, GIF, BMP or WebP file of at most {@link #maxBytes()} bytes
     * @return the decoded image
     * @throws ImageException naming the path, if the file cannot be read, is not a supported image, or is over the
     *                        limits
     */
    public Image read(Path path) {
        String source = path.toString();
        return decode(readFile(path, source), source);
    }

    /**
     * Decodes the bytes of an image file.
     *
     * @param bytes the whole file: JPEG, PNG, GIF, BMP or WebP; not modified or kept
     * @return the decoded image
     * @throws ImageException if the bytes are not a supported image, or are over the limits
     */
    public Image decode(byte[] bytes) {
        String source = "byte[] of " + bytes.length + " bytes";
        checkByteLimit(bytes.length, source);
        return decode(bytes, source);
    }

    /**
     * Reads a stream to its end and decodes the image in it. At most {@link #maxBytes()} bytes are read: a longer
     * stream fails once that many have been read. The stream is not closed.
     *
     * @param in a stream of the bytes of a JPEG, PNG, GIF, BMP or WebP file
     * @return the decoded image
     * @throws ImageException if the stream fails, is too long, or does not hold a supported image within the limits
     */
    public Image decode(InputStream in) {
        Objects.requireNonNull(in, "in");
        String source = "input stream";
        try {
            byte[] bytes = readBounded(in, source);
            return decode(bytes, source + " of " + bytes.length + " bytes");
        } catch (IOException e) {
            throw new ImageException(source + ": cannot read it (" + e + ")", e);
        }
    }

    /**
     * Decodes a {@code data:} URI such as {@code data:image/png;base64,iVBORw0KGgo...}. The media type, if any, must
     * be {@code image/*}, but the format is found from the content; whitespace in the base64 text is ignored.
     *
     * @param uri a base64 data URI
     * @return the decoded image
     * @throws ImageException if the URI is malformed, not base64, too long, or does not hold a supported image within
     *                        the limits
     */
    public Image fromDataUri(String uri) {
        String source = "data URI of " + uri.length() + " characters";
        if (!uri.regionMatches(true, 0, "data:", 0, 5)) {
            throw new ImageException(source + ": does not start with \"data:\"; pass data:image/png;base64,...");
        }
        int comma = uri.indexOf(',');
        if (comma < 0) {
            throw new ImageException(source + ": has no comma before its data; pass data:image/png;base64,...");
        }
        String[] parameters = uri.substring(5, comma).split(";", -1);
        String mediaType = parameters[0].strip().toLowerCase(Locale.ROOT);
        if (!mediaType.isEmpty() && !mediaType.startsWith("image/")) {
            throw new ImageException(source + ": has media type " + mediaType + ", not image/...");
        }
        if (parameters.length < 2 || !parameters[parameters.length - 1].strip().equalsIgnoreCase("base64")) {
            throw new ImageException(source + ": is not base64-encoded; pass data:image/png;base64,...");
        }
        String text = WHITESPACE.matcher(uri.substring(comma + 1)).replaceAll("");
        checkByteLimit(text.length() / 4L * 3, source);
        byte[] bytes;
        try {
            bytes = Base64.getDecoder().decode(text);
        } catch (IllegalArgumentException e) {
            throw new ImageException(source + ": invalid base64 (" + e.getMessage() + ")", e);
        }
        return decode(bytes, "data URI (" + (mediaType.isEmpty() ? "no media type" : mediaType) + ", "
                + bytes.length + " bytes)");
    }

    /**
     * Keeps the bytes of a JPEG, PNG, GIF or BMP file for llama.cpp to decode natively ({@link Image#encoded(byte[])}).
     * Only the header is read: the format must be one llama.cpp decodes, and the dimensions (for GIF, those of the
     * logical screen, which the native decoder allocates) within this decoder's limits.
     *
     * @param fileBytes the whole file; copied
     * @return an encoded image
     * @throws ImageException if the bytes are not a JPEG, PNG, GIF or BMP header within the limits
     */
    public Image encoded(byte[] fileBytes) {
        String source = "byte[] of " + fileBytes.length + " bytes";
        checkByteLimit(fileBytes.length, source);
        return encoded(fileBytes.clone(), source);
    }

    /**
     * Reads a JPEG, PNG, GIF or BMP file and keeps its bytes for llama.cpp to decode natively
     * ({@link Image#encoded(Path)}).
     *
     * @param path a file of at most {@link #maxBytes()} bytes
     * @return an encoded image
     * @throws ImageException naming the path, if the file cannot be read, or is not a JPEG, PNG, GIF or BMP header
     *                        within the limits
     */
    public Image encoded(Path path) {
        String source = path.toString();
        return encoded(readFile(path, source), source);
    }

    /** Returns the limits, e.g. {@code ImageDecoder[maxPixels=50000000, maxDimension=32768, ...]}. */
    @Override
    public String toString() {
        return "ImageDecoder[maxPixels=" + maxPixels + ", maxDimension=" + maxDimension + ", maxBytes=" + maxBytes
                + ", exifOrientation=" + exifOrientation + "]";
    }

    private Image decode(byte[] bytes, String source) {
        Format format = Format.of(bytes, source);
        BufferedImage decoded = readFirstImage(bytes, format, source);
        int width = decoded.getWidth();
        int height = decoded.getHeight();
        byte[] rgb = RgbConversion.toRgb(decoded, source);
        if (exifOrientation && format == Format.JPEG) {
            int orientation = ExifOrientation.read(bytes, source);
            rgb = ExifOrientation.apply(orientation, width, height, rgb);
            if (ExifOrientation.swapsDimensions(orientation)) {
                return Image.ofPixels(height, width, rgb);
            }
        }
        return Image.ofPixels(width, height, rgb);
    }

    private Image encoded(byte[] bytes, String source) {
        Format format = Format.of(bytes, source);
        if (!format.nativelyDecodable) {
            throw new ImageException(source + ": " + format.displayName + " cannot be decoded by llama.cpp, which reads"
                    + " JPEG, PNG, GIF and BMP; use Image.decode, which decodes it in Java");
        }
        if (format == Format.GIF) {
            if (bytes.length < GIF_HEADER_LENGTH) {
                throw new ImageException(source + ": truncated GIF, " + bytes.length + " bytes is shorter than its"
                        + " header; check that the whole file was transferred, or " + REENCODE);
            }
            // stb_image composes the first frame onto the logical screen: that is what it allocates and returns.
            int width = (bytes[6] & 0xFF) | (bytes[7] & 0xFF) << 8;
            int height = (bytes[8] & 0xFF) | (bytes[9] & 0xFF) << 8;
            checkDimensions(width, height, format, source);
            return Image.ofEncoded(width, height, bytes, format.displayName);
        }
        return withCheckedHeader(bytes, format, source,
                (reader, width, height) -> Image.ofEncoded(width, height, bytes, format.displayName));
    }

    /** Decodes the first image, after checking the dimensions its header declares. */
    private BufferedImage readFirstImage(byte[] bytes, Format format, String source) {
        List<String> warnings = new ArrayList<>();
        BufferedImage image = withCheckedHeader(bytes, format, source, (reader, width, height) -> {
            reader.addIIOReadWarningListener((r, warning) -> warnings.add(warning));
            return reader.read(0);
        });
        for (String warning : warnings) {
            // libjpeg's words for data that ends before the image does; the missing part would be left gray.
            if (warning.toLowerCase(Locale.ROOT).contains("premature end")) {
                throw new ImageException(source + ": truncated " + format.displayName + " (" + warning
                        + "); check that the whole file was transferred, or " + REENCODE);
            }
        }
        for (String warning : warnings) {
            LOG.log(Level.WARNING, "{0}: {1} decoder warning, image kept: {2}", source, format.displayName, warning);
        }
        return image;
    }

    /** What to do with a reader once the dimensions in the header have passed the limits. */
    private interface CheckedHeader<T> {
        T apply(ImageReader reader, int width, int height) throws IOException;
    }

    /**
     * Opens the format's reader on the bytes, checks the dimensions of the first image against the limits, and runs
     * {@code action}; decoder failures become an {@link ImageException} for a truncated or corrupt file.
     */
    private <T> T withCheckedHeader(byte[] bytes, Format format, String source, CheckedHeader<T> action) {
        ImageReader reader = reader(format, source);
        try (ImageInputStream in = new MemoryCacheImageInputStream(new ByteArrayInputStream(bytes))) {
            reader.setInput(in, true, true); // forward only, and no metadata: less to parse, less to allocate
            int width = reader.getWidth(0);
            int height = reader.getHeight(0);
            checkDimensions(width, height, format, source);
            return action.apply(reader, width, height);
        } catch (IOException | RuntimeException e) {
            throw rethrowOrCorrupt(e, format, source);
        } finally {
            reader.dispose();
        }
    }

    private void checkDimensions(int width, int height, Format format, String source) {
        if (width < 1 || height < 1) {
            throw new ImageException(source + ": the " + format.displayName + " header declares a " + width + "x"
                    + height + " image, which has no pixels; " + REENCODE);
        }
        long pixels = (long) width * height;
        if (width > maxDimension || height > maxDimension || pixels > maxPixels) {
            throw new ImageException(source + ": the " + format.displayName + " image is " + width + "x" + height
                    + " (" + pixels + " pixels), over the limit of " + maxPixels + " pixels and " + maxDimension
                    + " per side; downscale it, or if the source is trusted raise ImageDecoder.withMaxPixels"
                    + " or withMaxDimension");
        }
    }

    private void checkByteLimit(long length, String source) {
        if (length > maxBytes) {
            throw new ImageException(source + ": more than " + maxBytes + " bytes of encoded image; shrink or"
                    + " re-encode the file, or raise ImageDecoder.withMaxBytes");
        }
    }

    private byte[] readFile(Path path, String source) {
        try (InputStream in = Files.newInputStream(path)) {
            return readBounded(in, source);
        } catch (NoSuchFileException e) {
            throw new ImageException(source + ": no such file", e);
        } catch (IOException e) {
            throw new ImageException(source + ": cannot read the file (" + e + ")", e);
        }
    }

    /** Reads to the end of {@code in}, failing once more than {@code maxBytes} have come. */
    private byte[] readBounded(InputStream in, String source) throws IOException {
        byte[] bytes = in.readNBytes(maxBytes + 1); // grows as data comes: a short stream allocates little
        checkByteLimit(bytes.length, source);
        return bytes;
    }

    private static ImageReader reader(Format format, String source) {
        // Registration order puts TwelveMonkeys' JPEG reader (CMYK, YCCK) before the JDK's.
        Iterator<ImageReader> readers = ImageIO.getImageReadersByFormatName(format.imageIoName);
        if (!readers.hasNext()) {
            throw new ImageException(source + ": no ImageIO reader for " + format.displayName
                    + " is on the class path; " + REENCODE);
        }
        return readers.next();
    }

    private static ImageException rethrowOrCorrupt(Exception e, Format format, String source) {
        if (e instanceof ImageException imageException) {
            return imageException;
        }
        return new ImageException(source + ": cannot decode the " + format.displayName + " data, it is truncated or"
                + " corrupt (" + e + "); check that the whole file was transferred, or " + REENCODE, e);
    }

    /** The formats decoded, recognised by their signatures. */
    private enum Format {
        JPEG("JPEG", "jpeg", true),
        PNG("PNG", "png", true),
        GIF("GIF", "gif", true),
        BMP("BMP", "bmp", true),
        WEBP("WebP", "webp", false);

        private static final int SNIFF_LENGTH = 12;

        final String displayName;
        final String imageIoName;
        final boolean nativelyDecodable; // by llama.cpp's stb_image

        Format(String displayName, String imageIoName, boolean nativelyDecodable) {
            this.displayName = displayName;
            this.imageIoName = imageIoName;
            this.nativelyDecodable = nativelyDecodable;
        }

        static Format of(byte[] b, String source) {
            if (b.length == 0) {
                throw new ImageException(source + ": empty input; pass the bytes of a JPEG, PNG, GIF, BMP or WebP"
                        + " file");
            }
            if (startsWith(b, 0, 0xFF, 0xD8, 0xFF)) {
                return JPEG;
            }
            if (startsWith(b, 0, 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n')) {
                return PNG;
            }
            if (startsWith(b, 0, 'G', 'I', 'F', '8', '7', 'a') || startsWith(b, 0, 'G', 'I', 'F', '8', '9', 'a')) {
                return GIF;
            }
            if (startsWith(b, 0, 'B', 'M')) {
                return BMP;
            }
            if (startsWith(b, 0, 'R', 'I', 'F', 'F') && startsWith(b, 8, 'W', 'E', 'B', 'P')) {
                return WEBP;
            }
            String start = HexFormat.ofDelimiter(" ").formatHex(b, 0, Math.min(b.length, SNIFF_LENGTH));
            throw new ImageException(source + ": unknown image format (first bytes " + start + "); supported are"
                    + " JPEG, PNG, GIF, BMP and WebP: " + REENCODE);
        }

        private static boolean startsWith(byte[] b, int offset, int... signature) {
            if (b.length < offset + signature.length) {
                return false;
            }
            for (int i = 0; i < signature.length; i++) {
                if ((b[offset + i] & 0xFF) != signature[i]) {
                    return false;
                }
            }
            return true;
        }
    }
}
