package dev.qwenvl;

import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.ComponentColorModel;
import java.awt.image.DataBuffer;
import java.awt.image.Raster;

/**
 * Turns any {@link BufferedImage} into interleaved 8-bit sRGB, with alpha composited over white.
 *
 * <p>Grayscale images are read from their samples and replicated to R, G and B, as every image decoder outside Java2D
 * does: Java2D's gray color space is linear, so {@link BufferedImage#getRGB} would brighten PNG and JPEG grays.
 */
final class RgbConversion {
    /** The largest array the JVM allocates. */
    static final int MAX_ARRAY_LENGTH = Integer.MAX_VALUE - 8;

    private RgbConversion() {
    }

    /** Returns the pixels of {@code image} as {@code width * height * 3} bytes R, G, B, row by row. */
    static byte[] toRgb(BufferedImage image, String source) {
        int width = image.getWidth();
        int height = image.getHeight();
        long length = (long) width * height * 3;
        if (length > MAX_ARRAY_LENGTH) {
            throw new ImageException(source + ": a " + width + "x" + height + " image needs " + length
                    + " bytes of RGB, more than a Java array holds; downscale it");
        }
        byte[] rgb = new byte[(int) length];
        ColorModel model = image.getColorModel();
        if (image.getType() == BufferedImage.TYPE_3BYTE_BGR) {
            // Its bands are R, G, B (stored B, G, R): the raster hands them over in exactly our layout.
            image.getRaster().getDataElements(0, 0, width, height, rgb);
        } else if (isIntegerGray(model)) {
            copyGray(image.getRaster(), model, rgb);
        } else {
            copyArgb(image, rgb);
        }
        return rgb;
    }

    private static boolean isIntegerGray(ColorModel model) {
        int transfer = model.getTransferType();
        return model instanceof ComponentColorModel
                && model.getColorSpace().getType() == ColorSpace.TYPE_GRAY
                && !model.isAlphaPremultiplied()
                && (transfer == DataBuffer.TYPE_BYTE || transfer == DataBuffer.TYPE_USHORT);
    }

    private static void copyGray(Raster raster, ColorModel model, byte[] rgb) {
        int width = raster.getWidth();
        int grayMax = (1 << model.getComponentSize(0)) - 1;
        int alphaMax = model.hasAlpha() ? (1 << model.getComponentSize(1)) - 1 : 0;
        int[] gray = new int[width];
        int[] alpha = new int[width];
        int o = 0;
        for (int y = 0; y < raster.getHeight(); y++) {
            raster.getSamples(0, y, width, 1, 0, gray);
            if (model.hasAlpha()) {
                raster.getSamples(0, y, width, 1, 1, alpha);
            }
            for (int x = 0; x < width; x++) {
                int g = scale(gray[x], grayMax);
                int a = model.hasAlpha() ? scale(alpha[x], alphaMax) : 255;
                byte c = (byte) overWhite(g, a);
                rgb[o++] = c;
                rgb[o++] = c;
                rgb[o++] = c;
            }
        }
    }

    private static void copyArgb(BufferedImage image, byte[] rgb) {
        int width = image.getWidth();
        int[] row = new int[width];
        int o = 0;
        for (int y = 0; y < image.getHeight(); y++) {
            image.getRGB(0, y, width, 1, row, 0, width); // sRGB, not premultiplied, whatever the color model
            for (int argb : row) {
                int a = argb >>> 24;
                rgb[o++] = (byte) overWhite((argb >> 16) & 0xFF, a);
                rgb[o++] = (byte) overWhite((argb >> 8) & 0xFF, a);
                rgb[o++] = (byte) overWhite(argb & 0xFF, a);
            }
        }
    }

    /** Scales a sample of {@code 0..max} to {@code 0..255}, rounding to nearest. */
    private static int scale(int sample, int max) {
        return max == 255 ? sample : (sample * 255 + max / 2) / max;
    }

    /** Composites an 8-bit channel with 8-bit alpha over white, rounding to nearest. */
    private static int overWhite(int channel, int alpha) {
        return (channel * alpha + 255 * (255 - alpha) + 127) / 255;
    }
}
