package dev.qwenvl;

import com.sun.net.httpserver.HttpServer;
import dev.qwenvl.testing.TestImages;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** ImageDownloader against a loopback HTTP server: the bytes, the decoded image, and each refusal. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ImageDownloaderTest {
    private HttpServer server;
    private byte[] png;
    private String base;

    @BeforeAll
    void start() throws IOException {
        Path file = TestImages.gradient(Files.createTempFile("qwenvl-download", ".png"), 40, 30);
        png = Files.readAllBytes(file);
        Files.delete(file);
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/image.png", exchange -> {
            exchange.sendResponseHeaders(200, png.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(png);
            }
        });
        server.createContext("/chunked.png", exchange -> {
            exchange.sendResponseHeaders(200, 0); // no Content-Length: the limit applies while reading
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(png);
            }
        });
        server.createContext("/missing.png", exchange -> {
            exchange.sendResponseHeaders(404, -1);
            exchange.close();
        });
        server.createContext("/slow.png", exchange -> {
            try {
                Thread.sleep(3000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            exchange.sendResponseHeaders(200, png.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(png);
            }
        });
        server.start();
        base = "http://127.0.0.1:" + server.getAddress().getPort();
    }

    @AfterAll
    void stop() {
        server.stop(0);
    }

    @Test
    void downloadsAndDecodes() {
        assertArrayEquals(png, ImageDownloader.defaults().download(URI.create(base + "/image.png")));
        Image image = ImageDownloader.defaults().read(URI.create(base + "/image.png"));
        assertEquals(40, image.width());
        assertArrayEquals(Image.decode(png).rgb(), image.rgb());
    }

    @Test
    void refusesWhatIsOverTheLimitsOrNotAnImage() {
        ImageDownloader small = ImageDownloader.defaults().withMaxBytes(png.length - 1);
        for (String path : new String[]{"/image.png", "/chunked.png"}) {
            ImageException e = assertThrows(ImageException.class, () -> small.download(URI.create(base + path)));
            assertTrue(e.getMessage().contains("is larger than " + (png.length - 1) + " bytes"), e.getMessage());
        }
        assertArrayEquals(png, ImageDownloader.defaults().withMaxBytes(png.length)
                .download(URI.create(base + "/chunked.png")));
        ImageException missing = assertThrows(ImageException.class,
                () -> ImageDownloader.defaults().read(URI.create(base + "/missing.png")));
        assertTrue(missing.getMessage().endsWith("answered HTTP 404"), missing.getMessage());
        ImageException slow = assertThrows(ImageException.class, () -> ImageDownloader.defaults()
                .withTimeouts(Duration.ofSeconds(5), Duration.ofMillis(300)).read(URI.create(base + "/slow.png")));
        assertTrue(slow.getMessage().startsWith("cannot download the image " + base + "/slow.png"), slow.getMessage());
        ImageException ftp = assertThrows(ImageException.class,
                () -> ImageDownloader.defaults().read(URI.create("ftp://127.0.0.1/x.png")));
        assertTrue(ftp.getMessage().contains("is not http:// or https://"), ftp.getMessage());
        assertThrows(IllegalArgumentException.class, () -> ImageDownloader.defaults().withMaxBytes(0));
        assertThrows(IllegalArgumentException.class,
                () -> ImageDownloader.defaults().withTimeouts(Duration.ZERO, Duration.ofSeconds(1)));
    }
}
