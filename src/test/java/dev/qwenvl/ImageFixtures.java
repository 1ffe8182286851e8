package dev.qwenvl;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.awt.image.RenderedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32;
import java.util.zip.Deflater;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.stream.ImageOutputStream;

/** Builds image files in memory for the image tests: with ImageIO, or byte by byte where ImageIO cannot. */
final class ImageFixtures {
    private ImageFixtures() {
    }

    /** Encodes with ImageIO's writer for {@code format} ("png", "bmp", "gif"). */
    static byte[] encode(RenderedImage image, String format) {
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            assertTrue(ImageIO.write(image, format, out), "no ImageIO writer for " + format);
            return out.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Encodes a JPEG at the highest quality: an image or a raster (for CMYK), written as it is. */
    static byte[] jpeg(IIOImage image) {
        ImageWriter writer = ImageIO.getImageWritersByFormatName("jpeg").next();
        try (ByteArrayOutputStream bytes = new ByteArrayOutputStream();
             ImageOutputStream out = ImageIO.createImageOutputStream(bytes)) {
            ImageWriteParam param = writer.getDefaultWriteParam();
            param.setCompressionMode(ImageWriteParam.MODE_EXPLICIT);
            param.setCompressionQuality(1.0f);
            writer.setOutput(out);
            writer.write(null, image, param);
            out.flush();
            return bytes.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            writer.dispose();
        }
    }

    static byte[] jpeg(BufferedImage image) {
        return jpeg(new IIOImage(image, null, null));
    }

    /** A JPEG marker segment: FF, marker, big-endian length (2 + payload), payload. */
    static byte[] segment(int marker, byte[] payload) {
        return ByteBuffer.allocate(4 + payload.length).put((byte) 0xFF).put((byte) marker)
                .putShort((short) (2 + payload.length)).put(payload).array();
    }

    /** An APP1 EXIF segment whose IFD0 holds one entry: the orientation. */
    static byte[] exifOrientationSegment(int orientation, ByteOrder order) {
        ByteBuffer tiff = ByteBuffer.allocate(8 + 2 + 12 + 4).order(order);
        tiff.put(order == ByteOrder.BIG_ENDIAN ? "MM".getBytes(StandardCharsets.US_ASCII)
                : "II".getBytes(StandardCharsets.US_ASCII));
        tiff.putShort((short) 42).putInt(8);                  // magic, offset of IFD0
        tiff.putShort((short) 1);                             // one entry
        tiff.putShort((short) 0x0112).putShort((short) 3).putInt(1).putShort((short) orientation).putShort((short) 0);
        tiff.putInt(0);                                       // no next IFD
        return segment(0xE1, concat("Exif\0\0".getBytes(StandardCharsets.US_ASCII), tiff.array()));
    }

    /** Inserts a segment after SOI and the JFIF APP0 segment, if any. */
    static byte[] insertSegment(byte[] jpeg, byte[] segment) {
        int at = 2;
        if ((jpeg[2] & 0xFF) == 0xFF && (jpeg[3] & 0xFF) == 0xE0) {
            at += 2 + ((jpeg[4] & 0xFF) << 8 | (jpeg[5] & 0xFF));
        }
        byte[] out = new byte[jpeg.length + segment.length];
        System.arraycopy(jpeg, 0, out, 0, at);
        System.arraycopy(segment, 0, out, at, segment.length);
        System.arraycopy(jpeg, at, out, at + segment.length, jpeg.length - at);
        return out;
    }

    /** Offset of the first SOF0..SOF2 marker (FF C0..C2) of a JPEG. */
    static int startOfFrame(byte[] jpeg) {
        int pos = 2;
        while ((jpeg[pos + 1] & 0xFF) < 0xC0 || (jpeg[pos + 1] & 0xFF) > 0xC2) {
            pos += 2 + ((jpeg[pos + 2] & 0xFF) << 8 | (jpeg[pos + 3] & 0xFF));
        }
        return pos;
    }

    /** A PNG made by hand: IHDR with the given fields, one IDAT holding {@code scanlines} compressed, IEND. */
    static byte[] png(int width, int height, int bitDepth, int colorType, byte[] scanlines) {
        ByteBuffer ihdr = ByteBuffer.allocate(13).putInt(width).putInt(height)
                .put((byte) bitDepth).put((byte) colorType).put((byte) 0).put((byte) 0).put((byte) 0);
        Deflater deflater = new Deflater(Deflater.BEST_COMPRESSION);
        deflater.setInput(scanlines);
        deflater.finish();
        byte[] buffer = new byte[scanlines.length + 1024];
        int compressed = deflater.deflate(buffer);
        deflater.end();
        byte[] idat = java.util.Arrays.copyOf(buffer, compressed);
        return concat(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'},
                chunk("IHDR", ihdr.array()), chunk("IDAT", idat), chunk("IEND", new byte[0]));
    }

    private static byte[] chunk(String type, byte[] data) {
        byte[] typeBytes = type.getBytes(StandardCharsets.US_ASCII);
        CRC32 crc = new CRC32();
        crc.update(typeBytes);
        crc.update(data);
        return ByteBuffer.allocate(12 + data.length).putInt(data.length).put(typeBytes).put(data)
                .putInt((int) crc.getValue()).array();
    }

    static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] part : parts) {
            out.writeBytes(part);
        }
        return out.toByteArray();
    }

    /** The R, G, B of one pixel of a decoded image. */
    static int[] pixel(Image image, int x, int y) {
        byte[] rgb = image.rgbUnsafe();
        int at = (y * image.width() + x) * 3;
        return new int[] {rgb[at] & 0xFF, rgb[at + 1] & 0xFF, rgb[at + 2] & 0xFF};
    }

    /** A {@code width} x {@code height} image whose every pixel is {@code rgb} (0xRRGGBB). */
    static BufferedImage filled(int width, int height, int type, int rgb) {
        BufferedImage image = new BufferedImage(width, height, type);
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                image.setRGB(x, y, rgb);
            }
        }
        return image;
    }
}
