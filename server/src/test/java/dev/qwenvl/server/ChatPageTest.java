package dev.qwenvl.server;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.WebDriverWait;

import javax.imageio.ImageIO;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The chat page in a real browser: Debian's headless Chromium through chromium-driver, driven by Selenium. Attach an
 * image, ask, watch the answer stream in, stop it, ask again in the same chat; and a short answer shows its
 * statistics.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class ChatPageTest {
    private static final Path CHROMIUM = Path.of("/usr/bin/chromium");
    private static final Path DRIVER = Path.of("/usr/bin/chromedriver");
    private static final Duration WAIT = Duration.ofSeconds(60);
    private VisionServer server;
    private WebDriver browser;
    private Path png;

    @BeforeAll
    void start() throws Exception {
        if (!Files.isExecutable(CHROMIUM) || !Files.isExecutable(DRIVER)) {
            throw new IllegalStateException("the page test needs Debian's chromium and chromium-driver"
                    + " (apt-get install chromium chromium-driver; .ci/run installs them)");
        }
        server = TinyServer.start(ServerOptions.defaults());
        png = Files.write(Files.createTempFile("qwenvl-page", ".png"), TinyServer.png(64, 48));
        ChromeOptions options = new ChromeOptions();
        options.setBinary(CHROMIUM.toFile());
        options.addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-extensions");
        ChromeDriverService service = new ChromeDriverService.Builder().usingDriverExecutable(DRIVER.toFile())
                .usingAnyFreePort().build();
        browser = new ChromeDriver(service, options);
        browser.manage().timeouts().pageLoadTimeout(WAIT);
    }

    @AfterAll
    void stop() throws Exception {
        if (browser != null) {
            browser.quit();
        }
        server.close();
        Files.deleteIfExists(png);
    }

    private WebDriverWait waiting() {
        return new WebDriverWait(browser, WAIT, Duration.ofMillis(100));
    }

    private List<WebElement> answers() {
        return browser.findElements(By.cssSelector(".message.assistant"));
    }

    private void ask(String text) {
        browser.findElement(By.id("prompt")).sendKeys(text);
        browser.findElement(By.id("send")).click();
    }

    /** Waits for the newest answer to show streamed text while it is still running, then presses Stop. */
    private String watchAndStop() {
        WebElement answer = waiting().until(d -> {
            List<WebElement> all = answers();
            WebElement last = all.isEmpty() ? null : all.getLast();
            return last != null && last.findElement(By.className("content")).getText().length() > 20 ? last : null;
        });
        assertTrue(browser.findElement(By.id("stop")).isEnabled(), "Stop is enabled while the answer streams");
        assertFalse(browser.findElement(By.id("send")).isEnabled(), "Send waits for the answer");
        browser.findElement(By.id("stop")).click();
        waiting().until(d -> "true".equals(answer.getDomAttribute("data-done")));
        assertEquals("stopped", answer.findElement(By.className("stats")).getText());
        assertTrue(browser.findElement(By.id("send")).isEnabled(), "Send is back after Stop");
        return answer.findElement(By.className("content")).getText();
    }

    private double cancelled() throws IOException, InterruptedException {
        String metrics = java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest.newBuilder(
                server.uri().resolve("/metrics")).build(), java.net.http.HttpResponse.BodyHandlers.ofString()).body();
        return metrics.lines().filter(l -> l.startsWith("qwenvl_requests_cancelled_total "))
                .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).findFirst().orElseThrow();
    }

    @Test
    void attachAskWatchStreamStopAndAskAgain() throws Exception {
        browser.get(server.uri() + "/");
        waiting().until(d -> d.findElement(By.id("model")).getText().equals("qwenvl"));
        File image = png.toFile();
        browser.findElement(By.id("file")).sendKeys(image.getAbsolutePath());
        waiting().until(d -> !d.findElements(By.cssSelector("#attachments img")).isEmpty());
        double before = cancelled();
        ask("What is in this picture?");
        assertTrue(browser.findElements(By.cssSelector("#attachments img")).isEmpty(), "the image went with the"
                + " question");
        assertEquals(1, browser.findElements(By.cssSelector(".message.user img")).size());
        String first = watchAndStop();
        assertFalse(first.isEmpty());
        for (int i = 0; i < 100 && cancelled() < before + 1; i++) {
            Thread.sleep(100); // the server notices the closed stream at its next token
        }
        assertEquals(before + 1, cancelled(), "Stop cancelled the generation on the server");
        ask("And what else?");
        watchAndStop();
        assertEquals(2, browser.findElements(By.cssSelector(".message.user")).size());
        assertEquals(2, answers().size());
        assertEquals("", browser.findElement(By.id("error")).getText());
    }

    @Test
    void aFinishedAnswerShowsItsStatistics() throws Exception {
        try (VisionServer small = TinyServer.start(ServerOptions.defaults(), TinyServer.modelOptions()
                .withContextSize(96))) {
            browser.get(small.uri() + "/");
            ask("Hi");
            WebElement answer = waiting().until(d -> {
                List<WebElement> all = answers();
                return !all.isEmpty() && "true".equals(all.getLast().getDomAttribute("data-done")) ? all.getLast()
                        : null;
            });
            String stats = answer.findElement(By.className("stats")).getText();
            assertTrue(stats.contains("prompt tokens") && stats.contains("generated") && stats.contains("tokens/s"),
                    stats);
            assertFalse(answer.findElement(By.className("content")).getText().isEmpty());
        }
    }

    /**
     * A Qwen2.5-VL grounding answer about a 300x150 picture, fed to the page's drawing (the answer text a real model
     * would give: the tiny pair's random weights write no coordinates) with the real server's detection endpoint:
     * libmtmd's frame for it is 308x140 (sides rounded to 28-pixel cells), the picture letterboxed at x = 14, 280x140,
     * so the frame's box (42, 28)-(154, 112) is (30, 30)-(150, 120) of the picture and the point (224, 70) is (225, 75).
     */
    @Test
    void groundingBoxesAreDrawnWhereTheyLieOnTheUsersImage() throws Exception {
        BufferedImage grey = new BufferedImage(300, 150, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = grey.createGraphics();
        g.setColor(new Color(128, 128, 128));
        g.fillRect(0, 0, 300, 150);
        g.dispose();
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        ImageIO.write(grey, "png", bytes);
        String uri = TinyServer.dataUri(bytes.toByteArray());
        String answer = "```json\n[{\"bbox_2d\": [42, 28, 154, 112], \"label\": \"box\"},"
                + " {\"point_2d\": [224, 70], \"label\": \"dot\"}]\n```";
        browser.get(server.uri() + "/");
        waiting().until(d -> d.findElement(By.id("model")).getText().equals("qwenvl"));
        Object drawn = ((JavascriptExecutor) browser).executeAsyncScript(
                "const done = arguments[arguments.length - 1]; const div = document.createElement('div');"
                        + " div.className = 'message assistant'; div.append(document.createElement('div'));"
                        + " div.firstChild.className = 'content'; document.getElementById('messages').append(div);"
                        + " qwenvl.showDetections(div, arguments[0], arguments[1]).then(done, e => done('' + e));",
                answer, uri);
        assertEquals(2L, drawn, "the page drew the box and the point");
        WebElement canvas = browser.findElement(By.cssSelector(".message.assistant canvas.detections"));
        assertEquals("300", canvas.getDomProperty("width"));
        assertEquals("150", canvas.getDomProperty("height"));
        for (int[] edge : new int[][] {{30, 75}, {150, 75}, {90, 30}, {90, 120}, {225, 75}}) {
            List<Long> p = pixel(canvas, edge[0], edge[1]);
            assertTrue(Math.abs(p.get(0) - p.get(1)) > 60 || Math.abs(p.get(1) - p.get(2)) > 60,
                    "a coloured line or dot at " + edge[0] + "," + edge[1] + ": " + p);
        }
        for (int[] plain : new int[][] {{90, 75}, {20, 75}, {160, 75}, {90, 20}, {90, 130}, {225, 60}}) {
            assertEquals(List.of(128L, 128L, 128L, 255L), pixel(canvas, plain[0], plain[1]),
                    "the image's own grey at " + plain[0] + "," + plain[1]);
        }
    }

    @SuppressWarnings("unchecked")
    private List<Long> pixel(WebElement canvas, int x, int y) {
        return (List<Long>) ((JavascriptExecutor) browser).executeScript(
                "return Array.from(arguments[0].getContext('2d').getImageData(arguments[1], arguments[2], 1, 1).data);",
                canvas, x, y);
    }
}
