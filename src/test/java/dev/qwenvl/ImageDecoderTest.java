package dev.qwenvl;

import static dev.qwenvl.ImageFixtures.concat;
import static dev.qwenvl.ImageFixtures.encode;
import static dev.qwenvl.ImageFixtures.exifOrientationSegment;
import static dev.qwenvl.ImageFixtures.filled;
import static dev.qwenvl.ImageFixtures.insertSegment;
import static dev.qwenvl.ImageFixtures.jpeg;
import static dev.qwenvl.ImageFixtures.pixel;
import static dev.qwenvl.ImageFixtures.png;
import static dev.qwenvl.ImageFixtures.segment;
import static dev.qwenvl.ImageFixtures.startOfFrame;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.Transparency;
import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ComponentColorModel;
import java.awt.image.DataBuffer;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.awt.image.WritableRaster;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.lang.management.ManagementFactory;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Base64;
import java.util.Random;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageWriter;
import javax.imageio.stream.ImageOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Decoding real image files, made here with ImageIO or byte by byte, through {@link ImageDecoder}. */
class ImageDecoderTest {
    /** cwebp -lossless -exact of a 3x2 RGBA image: red, green, blue / (10,20,30), transparent, red at alpha 128. */
    private static final String LOSSLESS_WEBP =
            "UklGRjAAAABXRUJQVlA4TCQAAAAvAkAAEBAIJEHsr7qGkCAh+/+vAoEkkv0tFxAUpntemMEqyAY=";
    /** cwebp -q 100 of a 16x16 image of (200,100,50); libwebp's dwebp decodes it to (201,100,50). */
    private static final String LOSSY_WEBP = "UklGRkIAAABXRUJQVlA4IDYAAABQAgCdASoQABAAAAAAJaACdLoB+AH6AfwAB5AA/u3O3/"
            + "+SD15PPz/yQj/+1J+vMHK/+0yAAAA=";
    private static final int[] WHITE = {255, 255, 255};

    @TempDir
    Path dir;

    /** A 4x6 image with distinct, exactly representable colors in every pixel. */
    private static BufferedImage pattern(int type) {
        BufferedImage image = new BufferedImage(4, 6, type);
        for (int y = 0; y < 6; y++) {
            for (int x = 0; x < 4; x++) {
                image.setRGB(x, y, (x * 60) << 16 | (y * 50) << 8 | (x + y) * 30);
            }
        }
        return image;
    }

    private static void assertPattern(Image image) {
        assertEquals(4, image.width());
        assertEquals(6, image.height());
        for (int y = 0; y < 6; y++) {
            for (int x = 0; x < 4; x++) {
                assertArrayEquals(new int[] {x * 60, y * 50, (x + y) * 30}, pixel(image, x, y), "at " + x + "," + y);
            }
        }
    }

    private static void assertNear(int[] expected, int[] actual, int tolerance, String where) {
        for (int c = 0; c < 3; c++) {
            assertTrue(Math.abs(expected[c] - actual[c]) <= tolerance,
                    where + ": expected " + Arrays.toString(expected) + " +-" + tolerance + ", got "
                            + Arrays.toString(actual));
        }
    }

    private static ImageException assertRejected(byte[] bytes, String... fragments) {
        ImageException e = assertThrows(ImageException.class, () -> Image.decode(bytes));
        assertTrue(e.getMessage().startsWith("byte[] of " + bytes.length + " bytes: "), e.getMessage());
        for (String fragment : fragments) {
            assertTrue(e.getMessage().contains(fragment), "expected \"" + fragment + "\" in: " + e.getMessage());
        }
        return e;
    }

    @Test
    void pngRoundTripIsExact() {
        assertPattern(Image.decode(encode(pattern(BufferedImage.TYPE_INT_RGB), "png")));
    }

    @Test
    void bmpRoundTripIsExact() {
        assertPattern(Image.decode(encode(pattern(BufferedImage.TYPE_3BYTE_BGR), "bmp")));
    }

    @Test
    void gifRoundTripIsExact() {
        // GIF holds a palette: give the writer the pattern's 24 colors rather than let it quantize. (The JDK's
        // reader misplaces the rows of interlaced GIFs 2 to 4 pixels high, which the writer makes: 6 rows here.)
        BufferedImage rgb = pattern(BufferedImage.TYPE_INT_RGB);
        byte[][] channels = new byte[3][24];
        for (int i = 0; i < 24; i++) {
            int color = rgb.getRGB(i % 4, i / 4);
            for (int c = 0; c < 3; c++) {
                channels[c][i] = (byte) (color >> (16 - 8 * c));
            }
        }
        IndexColorModel palette = new IndexColorModel(8, 24, channels[0], channels[1], channels[2]);
        BufferedImage indexed = new BufferedImage(4, 6, BufferedImage.TYPE_BYTE_INDEXED, palette);
        for (int i = 0; i < 24; i++) {
            indexed.getRaster().setSample(i % 4, i / 4, 0, i);
        }
        assertPattern(Image.decode(encode(indexed, "gif")));
    }

    @Test
    void jpegRoundTripIsClose() {
        BufferedImage image = filled(32, 16, BufferedImage.TYPE_3BYTE_BGR, 0xC86432);
        for (int y = 0; y < 16; y++) {
            for (int x = 16; x < 32; x++) {
                image.setRGB(x, y, 0x2050A0);
            }
        }
        Image decoded = Image.decode(jpeg(image));
        assertEquals(32, decoded.width());
        assertEquals(16, decoded.height());
        assertNear(new int[] {200, 100, 50}, pixel(decoded, 4, 8), 4, "left half");
        assertNear(new int[] {32, 80, 160}, pixel(decoded, 28, 8), 4, "right half");
    }

    @Test
    void onePixelPng() {
        Image image = Image.decode(encode(filled(1, 1, BufferedImage.TYPE_INT_RGB, 0x123456), "png"));
        assertEquals("Image[1x1 RGB]", image.toString());
        assertArrayEquals(new byte[] {0x12, 0x34, 0x56}, image.rgb());
    }

    @Test
    void alphaIsCompositedOverWhite() {
        BufferedImage image = new BufferedImage(4, 1, BufferedImage.TYPE_INT_ARGB);
        image.setRGB(0, 0, 0xFF0A141E); // opaque: unchanged
        image.setRGB(1, 0, 0x000000FF); // transparent blue: white
        image.setRGB(2, 0, 0x80FF0000); // red at 128/255: (255*128 + 255*127) / 255, (0 + 255*127 + 127) / 255
        image.setRGB(3, 0, 0x40000000); // black at 64/255: (255*191 + 127) / 255 = 191.5 rounded down
        Image decoded = Image.decode(encode(image, "png"));
        assertArrayEquals(new int[] {10, 20, 30}, pixel(decoded, 0, 0));
        assertArrayEquals(WHITE, pixel(decoded, 1, 0));
        assertArrayEquals(new int[] {255, 127, 127}, pixel(decoded, 2, 0));
        assertArrayEquals(new int[] {191, 191, 191}, pixel(decoded, 3, 0));
    }

    @Test
    void grayscalePngKeepsItsValues() {
        BufferedImage gray = new BufferedImage(3, 1, BufferedImage.TYPE_BYTE_GRAY);
        gray.getRaster().setSamples(0, 0, 3, 1, 0, new int[] {0, 100, 255});
        Image decoded = Image.decode(encode(gray, "png"));
        // Java2D's gray is linear: getRGB would say 100 is 168. Every other decoder says 100.
        assertArrayEquals(new int[] {0, 0, 0}, pixel(decoded, 0, 0));
        assertArrayEquals(new int[] {100, 100, 100}, pixel(decoded, 1, 0));
        assertArrayEquals(WHITE, pixel(decoded, 2, 0));
    }

    @Test
    void grayscaleWithAlphaPngIsCompositedOverWhite() {
        ComponentColorModel model = new ComponentColorModel(ColorSpace.getInstance(ColorSpace.CS_GRAY), true, false,
                Transparency.TRANSLUCENT, DataBuffer.TYPE_BYTE);
        WritableRaster raster = model.createCompatibleWritableRaster(2, 1);
        raster.setPixel(0, 0, new int[] {100, 255});
        raster.setPixel(1, 0, new int[] {100, 128}); // (100*128 + 255*127 + 127) / 255 = 177.7 rounded down
        Image decoded = Image.decode(encode(new BufferedImage(model, raster, false, null), "png"));
        assertArrayEquals(new int[] {100, 100, 100}, pixel(decoded, 0, 0));
        assertArrayEquals(new int[] {177, 177, 177}, pixel(decoded, 1, 0));
    }

    @Test
    void sixteenBitPngsBecomeEightBit() {
        BufferedImage gray = new BufferedImage(2, 1, BufferedImage.TYPE_USHORT_GRAY);
        gray.getRaster().setSamples(0, 0, 2, 1, 0, new int[] {100 * 257, 0x8000}); // 0x8000 is 127.5: rounds up
        Image decodedGray = Image.decode(encode(gray, "png"));
        assertArrayEquals(new int[] {100, 100, 100}, pixel(decodedGray, 0, 0));
        assertArrayEquals(new int[] {128, 128, 128}, pixel(decodedGray, 1, 0));

        ComponentColorModel model = new ComponentColorModel(ColorSpace.getInstance(ColorSpace.CS_sRGB), false, false,
                Transparency.OPAQUE, DataBuffer.TYPE_USHORT);
        WritableRaster raster = model.createCompatibleWritableRaster(1, 1);
        raster.setPixel(0, 0, new int[] {200 * 257, 100 * 257, 50 * 257});
        byte[] png = encode(new BufferedImage(model, raster, false, null), "png");
        assertEquals(16, png[24], "IHDR bit depth");
        assertArrayEquals(new int[] {200, 100, 50}, pixel(Image.decode(png), 0, 0));
    }

    @Test
    void palettePngWithTransparentEntry() {
        IndexColorModel palette = new IndexColorModel(8, 3, new byte[] {(byte) 200, 0, 0},
                new byte[] {100, (byte) 255, 0}, new byte[] {50, 0, (byte) 255}, new byte[] {(byte) 255, (byte) 255, 0});
        BufferedImage image = new BufferedImage(3, 1, BufferedImage.TYPE_BYTE_INDEXED, palette);
        image.getRaster().setSamples(0, 0, 3, 1, 0, new int[] {0, 1, 2});
        Image decoded = Image.decode(encode(image, "png"));
        assertArrayEquals(new int[] {200, 100, 50}, pixel(decoded, 0, 0));
        assertArrayEquals(new int[] {0, 255, 0}, pixel(decoded, 1, 0));
        assertArrayEquals(WHITE, pixel(decoded, 2, 0));
    }

    @Test
    void cmykJpegIsConvertedToRgb() {
        // Adobe's CMYK convention, which the APP14 marker announces: stored values are 255 minus the ink.
        WritableRaster cmyk = Raster.createInterleavedRaster(DataBuffer.TYPE_BYTE, 16, 8, 4, null);
        for (int y = 0; y < 8; y++) {
            for (int x = 0; x < 16; x++) {
                int[] ink = x < 8 ? new int[] {0, 0, 0, 0} : new int[] {255, 0, 0, 0}; // paper, then pure cyan
                cmyk.setPixel(x, y, Arrays.stream(ink).map(v -> 255 - v).toArray());
            }
        }
        byte[] adobe = segment(0xEE, new byte[] {'A', 'd', 'o', 'b', 'e', 0, 100, 0, 0, 0, 0, 0}); // transform 0
        byte[] file = insertSegment(jpeg(new IIOImage(cmyk, null, null)), adobe);
        Image decoded = Image.decode(file);
        assertEquals(16, decoded.width());
        assertEquals(8, decoded.height());
        assertNear(WHITE, pixel(decoded, 3, 4), 12, "paper");
        int[] cyan = pixel(decoded, 12, 4);
        assertTrue(cyan[0] < 60 && cyan[1] > 120 && cyan[2] > 180, "cyan ink: " + Arrays.toString(cyan));
    }

    @Test
    void animatedGifGivesItsFirstFrame() throws IOException {
        ImageWriter writer = ImageIO.getImageWritersByFormatName("gif").next();
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ImageOutputStream out = ImageIO.createImageOutputStream(bytes)) {
            writer.setOutput(out);
            writer.prepareWriteSequence(null);
            writer.writeToSequence(new IIOImage(filled(5, 4, BufferedImage.TYPE_INT_RGB, 0xFF0000), null, null), null);
            writer.writeToSequence(new IIOImage(filled(5, 4, BufferedImage.TYPE_INT_RGB, 0x0000FF), null, null), null);
            writer.endWriteSequence();
        } finally {
            writer.dispose();
        }
        Image decoded = Image.decode(bytes.toByteArray());
        assertEquals(5, decoded.width());
        assertEquals(4, decoded.height());
        assertArrayEquals(new int[] {255, 0, 0}, pixel(decoded, 2, 2));
    }

    @Test
    void losslessWebpIsExactWithAlphaOverWhite() {
        Image decoded = Image.decode(Base64.getDecoder().decode(LOSSLESS_WEBP));
        assertEquals(3, decoded.width());
        assertEquals(2, decoded.height());
        assertArrayEquals(new byte[] {
                (byte) 255, 0, 0, 0, (byte) 255, 0, 0, 0, (byte) 255,
                10, 20, 30, (byte) 255, (byte) 255, (byte) 255, (byte) 255, 127, 127}, decoded.rgb());
    }

    @Test
    void lossyWebp() {
        Image decoded = Image.decode(Base64.getDecoder().decode(LOSSY_WEBP));
        assertEquals(16, decoded.width());
        assertEquals(16, decoded.height());
        assertNear(new int[] {201, 100, 50}, pixel(decoded, 8, 8), 3, "center");
    }

    /** A 32x16 white JPEG with a black 8x8 block in its top left corner. */
    private static byte[] markedJpeg() {
        BufferedImage image = filled(32, 16, BufferedImage.TYPE_3BYTE_BGR, 0xFFFFFF);
        for (int y = 0; y < 8; y++) {
            for (int x = 0; x < 8; x++) {
                image.setRGB(x, y, 0);
            }
        }
        return jpeg(image);
    }

    /** Asserts the black block is at the given corner of the upright image, and the other corners are white. */
    private static void assertBlockAt(Image image, int cornerX, int cornerY) {
        int[][] corners = {{4, 4}, {image.width() - 5, 4}, {4, image.height() - 5},
                {image.width() - 5, image.height() - 5}};
        for (int[] corner : corners) {
            int[] rgb = pixel(image, corner[0], corner[1]);
            boolean marked = corner[0] == cornerX && corner[1] == cornerY;
            assertNear(marked ? new int[3] : WHITE, rgb, 24, "corner " + Arrays.toString(corner));
        }
    }

    @Test
    void exifOrientation6TurnsClockwise() {
        Image image = Image.decode(insertSegment(markedJpeg(), exifOrientationSegment(6, ByteOrder.BIG_ENDIAN)));
        assertEquals(16, image.width());
        assertEquals(32, image.height());
        assertBlockAt(image, 11, 4); // top left goes to top right
    }

    @Test
    void exifOrientation3TurnsHalfway() {
        Image image = Image.decode(insertSegment(markedJpeg(), exifOrientationSegment(3, ByteOrder.LITTLE_ENDIAN)));
        assertEquals(32, image.width());
        assertEquals(16, image.height());
        assertBlockAt(image, 27, 11); // top left goes to bottom right
    }

    @Test
    void exifOrientation8TurnsCounterClockwise() {
        Image image = Image.decode(insertSegment(markedJpeg(), exifOrientationSegment(8, ByteOrder.LITTLE_ENDIAN)));
        assertEquals(16, image.width());
        assertEquals(32, image.height());
        assertBlockAt(image, 4, 27); // top left goes to bottom left
    }

    @Test
    void exifOrientationCanBeIgnored() {
        byte[] file = insertSegment(markedJpeg(), exifOrientationSegment(6, ByteOrder.BIG_ENDIAN));
        Image image = ImageDecoder.defaults().withExifOrientation(false).decode(file);
        assertEquals(32, image.width());
        assertBlockAt(image, 4, 4);
    }

    @Test
    void allEightOrientationsMapPixelsAsExifDefines() {
        // A 3x2 image whose pixel values are their indices, stored as each orientation expects to be displayed.
        byte[] stored = new byte[3 * 2 * 3];
        for (int i = 0; i < 6; i++) {
            stored[i * 3] = (byte) i;
        }
        // The index of the stored pixel at each displayed position, row by row (EXIF 2.32, tag 0x0112).
        int[][] displayed = {
                {0, 1, 2, 3, 4, 5}, {2, 1, 0, 5, 4, 3}, {5, 4, 3, 2, 1, 0}, {3, 4, 5, 0, 1, 2},
                {0, 3, 1, 4, 2, 5}, {3, 0, 4, 1, 5, 2}, {5, 2, 4, 1, 3, 0}, {2, 5, 1, 4, 0, 3}};
        for (int orientation = 1; orientation <= 8; orientation++) {
            byte[] upright = ExifOrientation.apply(orientation, 3, 2, stored);
            int[] order = new int[6];
            for (int i = 0; i < 6; i++) {
                order[i] = upright[i * 3];
            }
            assertArrayEquals(displayed[orientation - 1], order, "orientation " + orientation);
        }
    }

    @Test
    void hugeJunkExifIsIgnored() {
        byte[] junk = new byte[65_533 - 6];
        new Random(7).nextBytes(junk);
        byte[] file = insertSegment(markedJpeg(),
                segment(0xE1, concat("Exif\0\0".getBytes(StandardCharsets.US_ASCII), junk)));
        Image image = Image.decode(file);
        assertEquals(32, image.width());
        assertBlockAt(image, 4, 4);
    }

    @Test
    void malformedExifNeverThrows() {
        Random random = new Random(11);
        for (int i = 0; i < 300; i++) {
            byte[] tiff = exifOrientationSegment(6, random.nextBoolean() ? ByteOrder.BIG_ENDIAN : ByteOrder.LITTLE_ENDIAN);
            byte[] file = concat(new byte[] {(byte) 0xFF, (byte) 0xD8}, tiff);
            // Corrupt a few bytes anywhere, length field included, and cut the end at random.
            for (int k = random.nextInt(4); k >= 0; k--) {
                file[2 + random.nextInt(file.length - 2)] = (byte) random.nextInt(256);
            }
            byte[] cut = Arrays.copyOf(file, 4 + random.nextInt(file.length - 3));
            int orientation = ExifOrientation.read(cut, "fuzz " + i);
            assertTrue(orientation >= 1 && orientation <= 8, "orientation " + orientation);
        }
    }

    @Test
    void decompressionBombIsRejectedFromTheHeaderWithoutAllocating() {
        byte[] bomb = png(50_000, 50_000, 8, 2, new byte[150_001 * 4]); // 4 rows of data, 7.5 GB of raster declared
        assertTrue(bomb.length < 2_000, "a bomb is small: " + bomb.length);
        Image.decode(encode(pattern(BufferedImage.TYPE_INT_RGB), "png")); // ImageIO's plugin registry, loaded once
        assertTimeoutPreemptively(Duration.ofSeconds(5), () -> {
            long before = allocatedBytes();
            assertRejected(bomb, "PNG image is 50000x50000 (2500000000 pixels)",
                    "limit of 50000000 pixels and 32768 per side", "ImageDecoder.withMaxPixels");
            long allocated = allocatedBytes() - before;
            assertTrue(allocated < 8 << 20, "rejecting the bomb allocated " + allocated + " bytes");
        });
    }

    private static long allocatedBytes() {
        return ((com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean())
                .getCurrentThreadAllocatedBytes();
    }

    @Test
    void jpegWithHugeDeclaredSizeIsRejectedFromTheHeader() {
        byte[] file = markedJpeg();
        int sof = startOfFrame(file);
        file[sof + 5] = (byte) 0xEA; // height 60000
        file[sof + 6] = 0x60;
        file[sof + 7] = (byte) 0xEA; // width 60000
        file[sof + 8] = 0x60;
        assertTimeoutPreemptively(Duration.ofSeconds(5),
                () -> assertRejected(file, "JPEG image is 60000x60000 (3600000000 pixels)"));
    }

    @Test
    void limitsAreConfigurable() {
        byte[] file = encode(filled(40, 10, BufferedImage.TYPE_INT_RGB, 0), "png");
        ImageDecoder narrow = ImageDecoder.defaults().withMaxDimension(32);
        ImageException wide = assertThrows(ImageException.class, () -> narrow.decode(file));
        assertTrue(wide.getMessage().contains("40x10 (400 pixels), over the limit of 50000000 pixels and 32 per side"),
                wide.getMessage());
        assertThrows(ImageException.class, () -> ImageDecoder.defaults().withMaxPixels(399).decode(file));
        assertEquals(40, ImageDecoder.defaults().withMaxPixels(400).decode(file).width());
        assertThrows(IllegalArgumentException.class, () -> ImageDecoder.defaults().withMaxPixels(0));
        assertThrows(IllegalArgumentException.class, () -> ImageDecoder.defaults().withMaxPixels(1L << 40));
        assertThrows(IllegalArgumentException.class, () -> ImageDecoder.defaults().withMaxBytes(0));
        assertEquals("ImageDecoder[maxPixels=50000000, maxDimension=32768, maxBytes=268435456, exifOrientation=true]",
                ImageDecoder.defaults().toString());
    }

    @Test
    void zeroWidthIsRejected() {
        assertRejected(png(0, 1, 8, 2, new byte[1]), "PNG");
    }

    @Test
    void emptyInputIsRejected() throws IOException {
        assertRejected(new byte[0], "empty input");
        Path empty = Files.createFile(dir.resolve("empty.png"));
        ImageException e = assertThrows(ImageException.class, () -> Image.read(empty));
        assertEquals(empty + ": empty input; pass the bytes of a JPEG, PNG, GIF, BMP or WebP file", e.getMessage());
    }

    @Test
    void unknownFormatIsRejected() {
        assertRejected("<html>not an image</html>".getBytes(StandardCharsets.US_ASCII),
                "unknown image format (first bytes 3c 68 74 6d", "re-encode it as PNG or JPEG");
    }

    @ParameterizedTest
    @ValueSource(strings = {"png", "jpeg", "gif", "bmp"})
    void truncatedFilesAreRejected(String format) {
        BufferedImage noise = new BufferedImage(64, 64, BufferedImage.TYPE_INT_RGB);
        Random random = new Random(3);
        for (int y = 0; y < 64; y++) {
            for (int x = 0; x < 64; x++) {
                noise.setRGB(x, y, random.nextInt());
            }
        }
        byte[] whole = format.equals("jpeg") ? jpeg(noise) : encode(noise, format);
        for (double kept : new double[] {0.3, 0.9}) {
            assertRejected(Arrays.copyOf(whole, (int) (whole.length * kept)), "truncated",
                    "check that the whole file was transferred");
        }
    }

    @Test
    void truncatedWebpIsRejected() {
        byte[] whole = Base64.getDecoder().decode(LOSSY_WEBP);
        assertRejected(Arrays.copyOf(whole, whole.length - 10), "WebP", "truncated or corrupt");
    }

    @Test
    void formatComesFromTheContentNotTheName() throws IOException {
        Path misnamed = dir.resolve("photo.jpg");
        Files.write(misnamed, encode(pattern(BufferedImage.TYPE_INT_RGB), "png"));
        assertPattern(Image.read(misnamed));
    }

    @Test
    void missingFileIsNamed() {
        Path missing = dir.resolve("missing.png");
        ImageException e = assertThrows(ImageException.class, () -> Image.read(missing));
        assertEquals(missing + ": no such file", e.getMessage());
    }

    @Test
    void streamsAreReadWithinTheByteLimit() {
        byte[] file = encode(pattern(BufferedImage.TYPE_INT_RGB), "png");
        assertPattern(Image.decode(new java.io.ByteArrayInputStream(file)));

        InputStream endless = new InputStream() {
            @Override
            public int read() {
                return 0;
            }

            @Override
            public int read(byte[] b, int off, int len) {
                Arrays.fill(b, off, off + len, (byte) 0);
                return len;
            }
        };
        ImageException e = assertThrows(ImageException.class,
                () -> ImageDecoder.defaults().withMaxBytes(1 << 20).decode(endless));
        assertEquals("input stream: more than 1048576 bytes of encoded image; shrink or re-encode the file,"
                + " or raise ImageDecoder.withMaxBytes", e.getMessage());
        assertThrows(ImageException.class, () -> ImageDecoder.defaults().withMaxBytes(file.length - 1).decode(file));
    }

    @Test
    void jpegGoesThroughTwelveMonkeys() {
        assertTrue(ImageIO.getImageReadersByFormatName("jpeg").next().getClass().getName()
                .startsWith("com.twelvemonkeys."), "CMYK and YCCK JPEGs need TwelveMonkeys' reader first");
    }
}
