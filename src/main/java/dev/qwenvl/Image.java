package dev.qwenvl;

import java.awt.image.BufferedImage;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.Objects;

/**
 * An immutable image ready for the vision encoder: either decoded pixels (interleaved 8-bit RGB, row by row) or,
 * on request, the original file bytes for llama.cpp's own decoder.
 *
 * <p>Decoded images are the default: {@link ImageDecoder} decodes the bytes with ImageIO, never with llama.cpp's
 * stb_image, after checking the dimensions in the header against its limits; it composites alpha over white and
 * applies the JPEG EXIF orientation:
 * {@snippet :
 * Image photo = Image.read(Path.of("photo.jpg"));
 * System.out.println(photo.width() + "x" + photo.height());
 * }
 * The static factories here use {@link ImageDecoder#defaults()}; configure an {@link ImageDecoder} for other limits.
 *
 * <p>Encoded images ({@link #encoded(byte[])}, {@link #encoded(Path)}) keep the file bytes and let llama.cpp decode
 * them natively (stb_image), so that a JPEG gives the same pixels, bit for bit, as {@code llama-mtmd-cli}. Only the
 * header is read in Java: its format must be JPEG, PNG, GIF or BMP and its dimensions within the default limits. The
 * native decoder applies no EXIF orientation and reports corrupt data only when the image is used.
 */
public final class Image {
    private final int width;
    private final int height;
    private final byte[] rgb;     // null when encoded
    private final byte[] encoded; // null when decoded
    private final String format;  // the encoded file's format, null when decoded
    private volatile String digest;

    private Image(int width, int height, byte[] rgb, byte[] encoded, String format) {
        this.width = width;
        this.height = height;
        this.rgb = rgb;
        this.encoded = encoded;
        this.format = format;
    }

    /** Wraps decoded pixels without copying; the caller hands over {@code rgb}. */
    static Image ofPixels(int width, int height, byte[] rgb) {
        return new Image(width, height, rgb, null, null);
    }

    /** Wraps file bytes whose header declares {@code width} x {@code height}; the caller hands over {@code bytes}. */
    static Image ofEncoded(int width, int height, byte[] bytes, String format) {
        return new Image(width, height, null, bytes, format);
    }

    /**
     * Reads and decodes an image file with the default limits; the format is found from the content, not the name.
     *
     * @param path a JPEG, PNG, GIF, BMP or WebP file
     * @return the decoded image
     * @throws ImageException if the file cannot be read, is not a supported image, or is over the limits
     * @see ImageDecoder#read(Path)
     */
    public static Image read(Path path) {
        return ImageDecoder.defaults().read(path);
    }

    /**
     * Decodes the bytes of an image file with the default limits.
     *
     * @param bytes the whole file: JPEG, PNG, GIF, BMP or WebP; not modified or kept
     * @return the decoded image
     * @throws ImageException if the bytes are not a supported image, or are over the limits
     * @see ImageDecoder#decode(byte[])
     */
    public static Image decode(byte[] bytes) {
        return ImageDecoder.defaults().decode(bytes);
    }

    /**
     * Reads a stream to its end (at most {@link ImageDecoder#DEFAULT_MAX_BYTES}) and decodes the image in it with the
     * default limits. The stream is not closed.
     *
     * @param in a stream of the bytes of a JPEG, PNG, GIF, BMP or WebP file
     * @return the decoded image
     * @throws ImageException if the stream fails, is too long, or does not hold a supported image within the limits
     * @see ImageDecoder#decode(InputStream)
     */
    public static Image decode(InputStream in) {
        return ImageDecoder.defaults().decode(in);
    }

    /**
     * Decodes a {@code data:} URI such as {@code data:image/png;base64,iVBORw0KGgo...} with the default limits.
     *
     * @param uri a base64 data URI with an {@code image/*} media type (or none)
     * @return the decoded image
     * @throws ImageException if the URI is malformed, not base64, or does not hold a supported image within the limits
     * @see ImageDecoder#fromDataUri(String)
     */
    public static Image fromDataUri(String uri) {
        return ImageDecoder.defaults().fromDataUri(uri);
    }

    /**
     * Converts an image already in memory: to sRGB, with alpha composited over white. No pixel limit applies beyond
     * what one Java array holds, since the pixels are already there.
     *
     * @param image any buffered image; not modified or kept
     * @return the converted image
     * @throws ImageException if the RGB pixels would not fit in one Java array
     */
    public static Image of(BufferedImage image) {
        Objects.requireNonNull(image, "image");
        return ofPixels(image.getWidth(), image.getHeight(), RgbConversion.toRgb(image, "BufferedImage"));
    }

    /**
     * Wraps pixels given as interleaved 8-bit RGB, row by row from the top left.
     *
     * @param width  the width in pixels, at least 1
     * @param height the height in pixels, at least 1
     * @param rgb    exactly {@code width * height * 3} bytes; copied
     * @return the image
     * @throws IllegalArgumentException if a dimension is not positive or {@code rgb} has the wrong length
     */
    public static Image ofRgb(int width, int height, byte[] rgb) {
        Objects.requireNonNull(rgb, "rgb");
        if (width < 1 || height < 1) {
            throw new IllegalArgumentException("image dimensions must be positive: " + width + "x" + height);
        }
        long expected = (long) width * height * 3;
        if (rgb.length != expected) {
            throw new IllegalArgumentException("a " + width + "x" + height + " RGB image needs " + expected
                    + " bytes (width * height * 3), got " + rgb.length);
        }
        return ofPixels(width, height, rgb.clone());
    }

    /**
     * Keeps the bytes of a JPEG, PNG, GIF or BMP file for llama.cpp to decode natively, for pixels identical to
     * {@code llama-mtmd-cli}'s. Only the header is checked here, against {@link ImageDecoder#defaults()}' limits.
     *
     * @param fileBytes the whole file; copied
     * @return an encoded image
     * @throws ImageException if the bytes are not a JPEG, PNG, GIF or BMP header within the limits
     * @see ImageDecoder#encoded(byte[])
     */
    public static Image encoded(byte[] fileBytes) {
        return ImageDecoder.defaults().encoded(fileBytes);
    }

    /**
     * Reads a JPEG, PNG, GIF or BMP file and keeps its bytes for llama.cpp to decode natively.
     *
     * @param path the file
     * @return an encoded image
     * @throws ImageException if the file cannot be read, or is not a JPEG, PNG, GIF or BMP header within the limits
     * @see ImageDecoder#encoded(Path)
     */
    public static Image encoded(Path path) {
        return ImageDecoder.defaults().encoded(path);
    }

    /**
     * Returns the width in pixels: of the upright image when decoded, as the header declares it when encoded.
     *
     * @return the width, at least 1
     */
    public int width() {
        return width;
    }

    /**
     * Returns the height in pixels: of the upright image when decoded, as the header declares it when encoded.
     *
     * @return the height, at least 1
     */
    public int height() {
        return height;
    }

    /**
     * Returns whether this image holds file bytes for native decoding rather than decoded pixels.
     *
     * @return {@code true} for images made by {@code encoded(...)}
     */
    public boolean isEncoded() {
        return encoded != null;
    }

    /**
     * Returns a copy of the pixels: {@code width() * height() * 3} bytes R, G, B, row by row from the top left.
     *
     * @return a new array
     * @throws IllegalStateException if this image is {@linkplain #isEncoded() encoded}: its pixels exist only once
     *                               llama.cpp decodes them
     */
    public byte[] rgb() {
        return rgbUnsafe().clone();
    }

    /** The pixels themselves, for handing to native code without a copy; never modify them. */
    /**
     * The SHA-256 of the decoded pixels and their size (for decoded images), as libmtmd's id of the image: the key
     * of the model's image-embedding cache. Encoded images get libmtmd's own id, the SHA-256 of the file bytes.
     */
    String pixelDigest() {
        String d = digest;
        if (d == null) {
            try {
                java.security.MessageDigest sha = java.security.MessageDigest.getInstance("SHA-256");
                sha.update(java.nio.ByteBuffer.allocate(8).putInt(width).putInt(height).array());
                sha.update(rgbUnsafe());
                d = "rgb-sha256:" + java.util.HexFormat.of().formatHex(sha.digest());
            } catch (java.security.NoSuchAlgorithmException e) {
                throw new IllegalStateException("every JDK has SHA-256", e);
            }
            digest = d;
        }
        return d;
    }

    byte[] rgbUnsafe() {
        if (rgb == null) {
            throw new IllegalStateException("this " + this + " holds file bytes for native decoding, not pixels;"
                    + " use Image.decode or Image.read to decode it in Java");
        }
        return rgb;
    }

    /** The file bytes themselves, for handing to native code without a copy; never modify them. */
    byte[] encodedBytes() {
        if (encoded == null) {
            throw new IllegalStateException("this " + this + " holds decoded pixels, not file bytes");
        }
        return encoded;
    }

    /**
     * Returns a description such as {@code Image[640x480 RGB]} or {@code Image[640x480 encoded JPEG, 51234 bytes]}.
     */
    @Override
    public String toString() {
        return encoded == null
                ? "Image[" + width + "x" + height + " RGB]"
                : "Image[" + width + "x" + height + " encoded " + format + ", " + encoded.length + " bytes]";
    }
}
