package dev.qwenvl;

import static dev.qwenvl.ImageFixtures.encode;
import static dev.qwenvl.ImageFixtures.filled;
import static dev.qwenvl.ImageFixtures.jpeg;
import static dev.qwenvl.ImageFixtures.pixel;
import static dev.qwenvl.ImageFixtures.png;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The {@link Image} factories other than file decoding: raw pixels, BufferedImage, data URIs, encoded files. */
class ImageTest {
    @TempDir
    Path dir;

    private static final byte[] RED_GREEN_PNG;

    static {
        BufferedImage image = filled(2, 1, BufferedImage.TYPE_INT_RGB, 0xFF0000);
        image.setRGB(1, 0, 0x00FF00);
        RED_GREEN_PNG = encode(image, "png");
    }

    @Test
    void ofRgbCopiesAndValidates() {
        byte[] rgb = {1, 2, 3, 4, 5, 6};
        Image image = Image.ofRgb(2, 1, rgb);
        rgb[0] = 99;
        assertArrayEquals(new byte[] {1, 2, 3, 4, 5, 6}, image.rgb());
        image.rgb()[1] = 99;
        assertEquals(2, image.rgb()[1], "rgb() hands out a copy");
        assertNotSame(image.rgb(), image.rgb());
        assertFalse(image.isEncoded());

        IllegalArgumentException wrongLength =
                assertThrows(IllegalArgumentException.class, () -> Image.ofRgb(2, 2, new byte[6]));
        assertEquals("a 2x2 RGB image needs 12 bytes (width * height * 3), got 6", wrongLength.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Image.ofRgb(0, 1, new byte[0]));
        assertThrows(IllegalArgumentException.class, () -> Image.ofRgb(1, -1, new byte[3]));
        assertThrows(IllegalArgumentException.class, () -> Image.ofRgb(65_536, 65_536, new byte[3]));
        assertThrows(NullPointerException.class, () -> Image.ofRgb(1, 1, null));
    }

    @Test
    void ofBufferedImageConvertsEveryLayout() {
        BufferedImage bgr = filled(2, 2, BufferedImage.TYPE_3BYTE_BGR, 0x0A141E);
        bgr.setRGB(1, 1, 0xC86432);
        Image fromBgr = Image.of(bgr);
        assertArrayEquals(new int[] {10, 20, 30}, pixel(fromBgr, 0, 0));
        assertArrayEquals(new int[] {200, 100, 50}, pixel(fromBgr, 1, 1));

        BufferedImage premultiplied = filled(1, 1, BufferedImage.TYPE_INT_ARGB_PRE, 0x80FF0000);
        assertArrayEquals(new int[] {255, 127, 127}, pixel(Image.of(premultiplied), 0, 0));

        BufferedImage gray = new BufferedImage(1, 1, BufferedImage.TYPE_BYTE_GRAY);
        gray.getRaster().setSample(0, 0, 0, 100);
        assertArrayEquals(new int[] {100, 100, 100}, pixel(Image.of(gray), 0, 0));
    }

    @Test
    void dataUriDecodes() {
        String base64 = Base64.getEncoder().encodeToString(RED_GREEN_PNG);
        Image image = Image.fromDataUri("data:image/png;base64," + base64);
        assertArrayEquals(new byte[] {(byte) 255, 0, 0, 0, (byte) 255, 0}, image.rgb());
        String wrapped = Base64.getMimeEncoder(16, "\r\n".getBytes()).encodeToString(RED_GREEN_PNG);
        assertArrayEquals(image.rgb(), Image.fromDataUri("DATA:;Base64,\n" + wrapped).rgb());
        // The media type is a hint: the content decides.
        assertArrayEquals(image.rgb(), Image.fromDataUri("data:image/jpeg;base64," + base64).rgb());
    }

    @Test
    void invalidDataUrisAreRejected() {
        String png = Base64.getEncoder().encodeToString(RED_GREEN_PNG);
        assertDataUriRejected("image/png;base64," + png, "does not start with \"data:\"");
        assertDataUriRejected("data:image/png;base64", "has no comma");
        assertDataUriRejected("data:image/png," + png, "is not base64-encoded");
        assertDataUriRejected("data:text/plain;base64," + png, "has media type text/plain, not image/");
        assertDataUriRejected("data:image/png;base64,iVBO#w0K", "invalid base64");
        assertDataUriRejected("data:image/png;base64,", "empty input");
        ImageException notImage = assertThrows(ImageException.class,
                () -> Image.fromDataUri("data:image/png;base64,aGVsbG8gd29ybGQ="));
        assertEquals("data URI (image/png, 11 bytes): unknown image format (first bytes 68 65 6c 6c 6f 20 77 6f 72 6c"
                + " 64); supported are JPEG, PNG, GIF, BMP and WebP: re-encode it as PNG or JPEG", notImage.getMessage());
        assertThrows(ImageException.class,
                () -> ImageDecoder.defaults().withMaxBytes(10).fromDataUri("data:image/png;base64," + png));
    }

    private static void assertDataUriRejected(String uri, String fragment) {
        ImageException e = assertThrows(ImageException.class, () -> Image.fromDataUri(uri));
        assertTrue(e.getMessage().startsWith("data URI"), e.getMessage());
        assertTrue(e.getMessage().contains(fragment), "expected \"" + fragment + "\" in: " + e.getMessage());
    }

    @Test
    void encodedKeepsTheFileAndReadsOnlyTheHeader() throws IOException {
        byte[] file = jpeg(filled(24, 10, BufferedImage.TYPE_3BYTE_BGR, 0x336699));
        Image image = Image.encoded(file);
        assertTrue(image.isEncoded());
        assertEquals(24, image.width());
        assertEquals(10, image.height());
        assertArrayEquals(file, image.encodedBytes());
        assertNotSame(file, image.encodedBytes(), "the caller's array is copied");
        assertEquals("Image[24x10 encoded JPEG, " + file.length + " bytes]", image.toString());
        IllegalStateException noPixels = assertThrows(IllegalStateException.class, image::rgb);
        assertTrue(noPixels.getMessage().contains("use Image.decode or Image.read"), noPixels.getMessage());

        Path path = Files.write(dir.resolve("image.bin"), RED_GREEN_PNG);
        Image fromPath = Image.encoded(path);
        assertEquals(2, fromPath.width());
        assertArrayEquals(RED_GREEN_PNG, fromPath.encodedBytes());
        assertThrows(IllegalStateException.class, () -> Image.decode(RED_GREEN_PNG).encodedBytes());
    }

    @Test
    void encodedRejectsWhatTheNativeDecoderShouldNotSee() {
        ImageException webp = assertThrows(ImageException.class, () -> Image.encoded(
                Base64.getDecoder().decode("UklGRjAAAABXRUJQVlA4TCQAAAAvAkAAEBAIJEHsr7qGkCAh+/+vAoEkkv0tFxAUpntemMEqyAY=")));
        assertTrue(webp.getMessage().contains("WebP cannot be decoded by llama.cpp"), webp.getMessage());

        byte[] bomb = png(40_000, 40_000, 8, 0, new byte[40_001]);
        ImageException big = assertThrows(ImageException.class, () -> Image.encoded(bomb));
        assertTrue(big.getMessage().contains("PNG image is 40000x40000"), big.getMessage());

        // A one-pixel frame on a 65535x65535 logical screen: stb_image would allocate the whole screen.
        byte[] gif = encode(filled(1, 1, BufferedImage.TYPE_INT_RGB, 0), "gif");
        gif[6] = gif[7] = gif[8] = gif[9] = (byte) 0xFF;
        ImageException screen = assertThrows(ImageException.class, () -> Image.encoded(gif));
        assertTrue(screen.getMessage().contains("GIF image is 65535x65535"), screen.getMessage());

        assertThrows(ImageException.class, () -> Image.encoded(new byte[0]));
        assertThrows(ImageException.class, () -> Image.encoded(new byte[] {'G', 'I', 'F', '8', '9', 'a', 1}));
    }
}
