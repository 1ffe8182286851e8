package dev.qwenvl;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageTypeSpecifier;
import javax.imageio.ImageWriter;
import javax.imageio.metadata.IIOMetadata;
import javax.imageio.metadata.IIOMetadataNode;
import javax.imageio.stream.ImageOutputStream;
import java.awt.image.BufferedImage;
import java.awt.image.DataBuffer;
import java.awt.image.Raster;
import java.awt.image.WritableRaster;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

import static dev.qwenvl.ImageFixtures.concat;
import static dev.qwenvl.ImageFixtures.encode;
import static dev.qwenvl.ImageFixtures.filled;
import static dev.qwenvl.ImageFixtures.insertSegment;
import static dev.qwenvl.ImageFixtures.jpeg;
import static dev.qwenvl.ImageFixtures.png;
import static dev.qwenvl.ImageFixtures.segment;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Hostile images taken through the facade into a conversation, in a child JVM with a 256 MB heap: each is an
 * {@link ImageException} (after which the same conversation still answers) or is answered, never a crash. The
 * encoded path ({@link Image#encoded(byte[])}) hands bytes to llama.cpp's stb_image, so its corrupt inputs matter most.
 */
class HostileImagesTest {
    private static final String ANSWERED = "answered";
    private static final String EITHER = "answered, or ImageException"; // stb_image is lenient with some damage
    private static Path dir;

    /** Expected outcome per case: an exception type and message fragment, or null for an answer. */
    private static final Map<String, Object[]> EXPECTED = new LinkedHashMap<>();

    static {
        expect("empty-bytes", ImageException.class, "empty");
        expect("empty-file", ImageException.class, "empty");
        expect("truncated-jpeg", ImageException.class, "");
        expect("truncated-png", ImageException.class, "");
        expect("png-named-jpg", null, ANSWERED);
        expect("text-named-png", ImageException.class, "");
        expect("bomb-png-50000x50000", ImageException.class, "50000x50000");
        expect("bomb-png-encoded", ImageException.class, "50000x50000");
        expect("1x1", null, ANSWERED);
        expect("1x2000-strip", null, ANSWERED);
        expect("grayscale-png", null, ANSWERED);
        expect("grayscale-jpeg", null, ANSWERED);
        expect("cmyk-jpeg", null, ANSWERED);
        expect("16-bit-png", null, ANSWERED);
        expect("animated-gif", null, ANSWERED);
        expect("huge-exif", null, ANSWERED);
        expect("exif-ifd-loop", null, ANSWERED);
        expect("encoded-random-bytes", ImageException.class, "");
        expect("encoded-png-corrupt-data", ImageException.class,
                "could not be decoded by libmtmd (llama.cpp: mtmd_helper_bitmap_init_from_buf: failed to decode");
        expect("encoded-jpeg-garbage-after-header", null, EITHER);
        expect("encoded-truncated-jpeg", null, EITHER);
        expect("encoded-1x1-png", null, ANSWERED);
        expect("encoded-gif", null, ANSWERED);
        expect("rgb-wrong-length", IllegalArgumentException.class, "needs 12 bytes");
    }

    private static void expect(String name, Class<? extends Throwable> type, String fragment) {
        EXPECTED.put(name, new Object[]{type, fragment});
    }

    @BeforeAll
    static void tinyPair(@TempDir Path tmp) {
        dir = tmp;
        HostileChild.tinyPair();
    }

    @TestFactory
    Stream<DynamicTest> everyHostileImageIsHandled() {
        Map<String, HostileJvm.Outcome> outcomes = new HostileJvm(dir, 180, "-Xmx256m")
                .run("images", List.of(dir.toString()), List.copyOf(EXPECTED.keySet()));
        HostileJvm.report("images", "Hostile images through Conversation.ask", outcomes);
        return EXPECTED.entrySet().stream().map(e -> DynamicTest.dynamicTest(e.getKey(), () -> {
            HostileJvm.Outcome o = outcomes.get(e.getKey());
            @SuppressWarnings("unchecked")
            Class<? extends Throwable> type = (Class<? extends Throwable>) e.getValue()[0];
            String fragment = (String) e.getValue()[1];
            if (fragment.equals(EITHER)) {
                assertTrue(o.kind() == HostileJvm.Outcome.Kind.OK || o.threw(ImageException.class), o.row());
                return;
            }
            if (type == null) {
                assertEquals(HostileJvm.Outcome.Kind.OK, o.kind(), o.row());
            } else {
                assertTrue(o.threw(type), "expected " + type.getSimpleName() + ": " + o.row());
            }
            assertTrue(o.detail().contains(fragment), "lacks '" + fragment + "': " + o.row());
        }));
    }

    // --- the child side ---

    /**
     * Each case makes its bytes, turns them into an {@link Image} and asks about it; a failing case must leave the
     * conversation answering a text question.
     */
    static Map<String, HostileChild.Case> cases(List<String> args) throws IOException {
        Path work = Path.of(args.get(0));
        VisionLanguageModel model = HostileChild.tinyModel(ModelOptions.defaults().withThreads(1)
                .withContextSize(1024).withWarmup(false));
        Map<String, HostileChild.Case> cases = new LinkedHashMap<>();
        byte[] jpeg = jpeg(gradient(48, 32, BufferedImage.TYPE_INT_RGB));
        byte[] png = encode(gradient(48, 32, BufferedImage.TYPE_INT_RGB), "png");
        cases.put("empty-bytes", ask(model, () -> Image.decode(new byte[0])));
        cases.put("empty-file", ask(model, () -> Image.read(Files.write(work.resolve("empty.png"), new byte[0]))));
        cases.put("truncated-jpeg", ask(model, () -> Image.decode(Arrays.copyOf(jpeg, jpeg.length / 2))));
        cases.put("truncated-png", ask(model, () -> Image.decode(Arrays.copyOf(png, png.length / 2))));
        cases.put("png-named-jpg", ask(model, () -> Image.read(Files.write(work.resolve("really-png.jpg"), png))));
        cases.put("text-named-png", ask(model, () -> Image.read(Files.write(work.resolve("text.png"),
                "not an image at all".getBytes(StandardCharsets.UTF_8)))));
        byte[] bomb = png(50_000, 50_000, 8, 2, new byte[150_001 * 4]); // 4 rows of data, 7.5 GB of raster declared
        cases.put("bomb-png-50000x50000", ask(model, () -> boundedMemory(() -> Image.decode(bomb))));
        cases.put("bomb-png-encoded", ask(model, () -> boundedMemory(() -> Image.encoded(bomb))));
        cases.put("1x1", ask(model, () -> Image.decode(encode(gradient(1, 1, BufferedImage.TYPE_INT_RGB), "png"))));
        cases.put("1x2000-strip", ask(model, () -> Image.decode(encode(gradient(1, 2000, BufferedImage.TYPE_INT_RGB),
                "png"))));
        cases.put("grayscale-png", ask(model, () -> Image.decode(encode(gradient(40, 40,
                BufferedImage.TYPE_BYTE_GRAY), "png"))));
        cases.put("grayscale-jpeg", ask(model, () -> Image.decode(jpeg(gradient(40, 40,
                BufferedImage.TYPE_BYTE_GRAY)))));
        cases.put("cmyk-jpeg", ask(model, () -> Image.decode(cmykJpeg())));
        cases.put("16-bit-png", ask(model, () -> Image.decode(encode(gradient(40, 40,
                BufferedImage.TYPE_USHORT_GRAY), "png"))));
        cases.put("animated-gif", ask(model, () -> Image.decode(animatedGif())));
        cases.put("huge-exif", ask(model, () -> Image.decode(insertSegment(jpeg, hugeExif()))));
        cases.put("exif-ifd-loop", ask(model, () -> Image.decode(insertSegment(jpeg, loopingExif()))));
        byte[] random = new byte[4096];
        new Random(7).nextBytes(random);
        cases.put("encoded-random-bytes", ask(model, () -> Image.encoded(random)));
        cases.put("encoded-png-corrupt-data", ask(model, () -> Image.encoded(png(64, 64, 8, 2,
                new byte[10]))));
        byte[] garbled = jpeg.clone();
        for (int i = ImageFixtures.startOfFrame(jpeg) + 200; i < garbled.length - 2; i++) {
            garbled[i] = (byte) (i * 31);
        }
        cases.put("encoded-jpeg-garbage-after-header", ask(model, () -> Image.encoded(garbled)));
        cases.put("encoded-truncated-jpeg", ask(model, () -> Image.encoded(Arrays.copyOf(jpeg, jpeg.length / 2))));
        cases.put("encoded-1x1-png", ask(model, () -> Image.encoded(encode(gradient(1, 1,
                BufferedImage.TYPE_INT_RGB), "png"))));
        cases.put("encoded-gif", ask(model, () -> Image.encoded(animatedGif())));
        cases.put("rgb-wrong-length", ask(model, () -> Image.ofRgb(2, 2, new byte[11])));
        return cases;
    }

    @FunctionalInterface
    private interface ImageSource {
        Image get() throws Exception;
    }

    /** Makes the image and asks about it; on an exception, checks the conversation still answers, then rethrows. */
    private static HostileChild.Case ask(VisionLanguageModel model, ImageSource source) {
        return () -> {
            try (Conversation c = model.newConversation()) {
                try {
                    Image image = source.get();
                    Generation g = c.ask(Message.of("Describe it.", image), SamplingOptions.greedy().withMaxTokens(3));
                    assertEquals(StopReason.MAX_TOKENS, g.stopReason(), "3 tokens from the random model");
                    assertTrue(g.stats().imageTokens() > 0, "the image was encoded");
                    return ANSWERED + " (" + image + ", " + g.stats().imageTokens() + " image tokens)";
                } catch (ImageException | IllegalArgumentException e) {
                    Generation after = c.ask(Message.of("Hello?"), SamplingOptions.greedy().withMaxTokens(2));
                    assertEquals(2, after.stats().generatedTokens(), "the conversation answers after the failure");
                    throw e;
                }
            }
        };
    }

    /** Runs the decode and checks that it allocated less than 16 MB of heap: the dimensions were refused first. */
    private static Image boundedMemory(ImageSource source) throws Exception {
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long before = threads.getCurrentThreadAllocatedBytes();
        try {
            return source.get();
        } finally {
            long allocated = threads.getCurrentThreadAllocatedBytes() - before;
            assertTrue(allocated < 16 << 20, "the bomb allocated " + allocated + " bytes before it was refused");
        }
    }

    private static BufferedImage gradient(int width, int height, int type) {
        BufferedImage image = new BufferedImage(width, height, type);
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                image.setRGB(x, y, (x * 255 / width) << 16 | (y * 255 / height) << 8 | 128);
            }
        }
        return image;
    }

    /** Adobe's CMYK convention (APP14 transform 0): stored values are 255 minus the ink. */
    private static byte[] cmykJpeg() {
        WritableRaster cmyk = Raster.createInterleavedRaster(DataBuffer.TYPE_BYTE, 32, 32, 4, null);
        for (int y = 0; y < 32; y++) {
            for (int x = 0; x < 32; x++) {
                cmyk.setPixel(x, y, new int[]{255 - x * 8, 255, 255 - y * 8, 200});
            }
        }
        byte[] adobe = segment(0xEE, new byte[]{'A', 'd', 'o', 'b', 'e', 0, 100, 0, 0, 0, 0, 0});
        return insertSegment(jpeg(new IIOImage(cmyk, null, null)), adobe);
    }

    /** An APP1 EXIF block of nearly 64 KB whose IFD0 claims 65535 entries, most of them outside the block. */
    private static byte[] hugeExif() {
        ByteBuffer tiff = ByteBuffer.allocate(65_000).order(ByteOrder.LITTLE_ENDIAN);
        tiff.put((byte) 'I').put((byte) 'I').putShort((short) 42).putInt(8).putShort((short) 0xFFFF);
        Random r = new Random(9);
        while (tiff.remaining() >= 12) {
            tiff.putShort((short) r.nextInt()).putShort((short) (1 + r.nextInt(12))).putInt(r.nextInt())
                    .putInt(r.nextInt());
        }
        return segment(0xE1, concat("Exif\0\0".getBytes(StandardCharsets.US_ASCII), tiff.array()));
    }

    /** An EXIF block whose IFD0 names itself as the next IFD, and whose orientation points past the end. */
    private static byte[] loopingExif() {
        ByteBuffer tiff = ByteBuffer.allocate(8 + 2 + 24 + 4).order(ByteOrder.BIG_ENDIAN);
        tiff.put((byte) 'M').put((byte) 'M').putShort((short) 42).putInt(8).putShort((short) 2);
        tiff.putShort((short) 0x0112).putShort((short) 3).putInt(1_000_000).putInt(0x7FFF_FFF0);
        tiff.putShort((short) 0x8769).putShort((short) 4).putInt(1).putInt(8); // EXIF sub-IFD: IFD0 again
        tiff.putInt(8);
        return segment(0xE1, concat("Exif\0\0".getBytes(StandardCharsets.US_ASCII), tiff.array()));
    }

    /** A two-frame GIF. */
    private static byte[] animatedGif() throws IOException {
        ImageWriter writer = ImageIO.getImageWritersByFormatName("gif").next();
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ImageOutputStream out = ImageIO.createImageOutputStream(bytes)) {
            writer.setOutput(out);
            writer.prepareWriteSequence(null);
            for (int frame = 0; frame < 2; frame++) {
                BufferedImage image = filled(24, 24, BufferedImage.TYPE_INT_RGB, frame == 0 ? 0xFF0000 : 0x00FF00);
                IIOMetadata meta = writer.getDefaultImageMetadata(ImageTypeSpecifier.createFromRenderedImage(image),
                        null);
                IIOMetadataNode root = (IIOMetadataNode) meta.getAsTree(meta.getNativeMetadataFormatName());
                IIOMetadataNode gce = new IIOMetadataNode("GraphicControlExtension");
                gce.setAttribute("disposalMethod", "none");
                gce.setAttribute("userInputFlag", "FALSE");
                gce.setAttribute("transparentColorFlag", "FALSE");
                gce.setAttribute("delayTime", "10");
                gce.setAttribute("transparentColorIndex", "0");
                root.appendChild(gce);
                meta.setFromTree(meta.getNativeMetadataFormatName(), root);
                writer.writeToSequence(new IIOImage(image, null, meta), null);
            }
            writer.endWriteSequence();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            writer.dispose();
        }
        return bytes.toByteArray();
    }
}
