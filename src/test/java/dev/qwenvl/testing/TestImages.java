package dev.qwenvl.testing;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import javax.imageio.ImageIO;

/** Lossless 8-bit RGB PNGs drawn at test time, so no image is committed (notes §8: stb_image reads them exactly). */
public final class TestImages {
    private TestImages() {
    }

    /** Writes {@link #gradient} to a file, for scripts: {@code TestImages FILE WIDTH HEIGHT}. */
    public static void main(String[] args) {
        if (args.length != 3) {
            throw new IllegalArgumentException("usage: TestImages FILE WIDTH HEIGHT");
        }
        gradient(Path.of(args[0]), Integer.parseInt(args[1]), Integer.parseInt(args[2]));
    }

    /** A smooth colour gradient over the whole frame. */
    public static Path gradient(Path file, int width, int height) {
        return write(file, width, height, (x, y) -> (x * 255 / width) << 16 | (y * 255 / height) << 8
                | ((x + y) * 255 / (width + height)));
    }

    /** Black and white squares of {@code cell} pixels. */
    public static Path checkerboard(Path file, int width, int height, int cell) {
        return write(file, width, height, (x, y) -> ((x / cell + y / cell) % 2 == 0) ? 0xFFFFFF : 0x000000);
    }

    private interface Pixels {
        int rgb(int x, int y);
    }

    private static Path write(Path file, int width, int height, Pixels pixels) {
        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                image.setRGB(x, y, pixels.rgb(x, y));
            }
        }
        try {
            if (!ImageIO.write(image, "png", file.toFile())) {
                throw new IllegalStateException("no PNG writer in this JDK");
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file, e);
        }
        return file;
    }
}
