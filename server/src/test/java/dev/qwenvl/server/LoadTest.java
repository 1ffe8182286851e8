package dev.qwenvl.server;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * 64 concurrent clients, 10 requests each, against two conversations and a queue of 16: every request is answered
 * (200) or refused (503), none is lost or fails otherwise. Latencies are printed, never asserted.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class LoadTest {
    private static final int CLIENTS = 64;
    private static final int REQUESTS = 10;

    @Test
    void everyRequestIsAnsweredOrRefused() throws Exception {
        try (VisionServer server = TinyServer.start(ServerOptions.defaults().withParallel(2, 16))) {
            HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
            String image = TinyServer.dataUri(TinyServer.png(32, 32));
            List<long[]> results = Collections.synchronizedList(new ArrayList<>()); // {status, nanos}
            try (ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor()) {
                List<Future<?>> all = new ArrayList<>();
                for (int c = 0; c < CLIENTS; c++) {
                    int client = c;
                    all.add(clients.submit(() -> {
                        for (int r = 0; r < REQUESTS; r++) {
                            String content = (client + r) % 4 == 0
                                    ? "[{\"type\":\"image_url\",\"image_url\":{\"url\":\"" + image + "\"}},"
                                    + "{\"type\":\"text\",\"text\":\"what?\"}]" : "\"hello " + client + "\"";
                            HttpRequest req = HttpRequest.newBuilder(server.uri().resolve("/v1/chat/completions"))
                                    .timeout(Duration.ofSeconds(90)).header("Content-Type", "application/json")
                                    .POST(HttpRequest.BodyPublishers.ofString("{\"messages\":[{\"role\":\"user\","
                                            + "\"content\":" + content + "}],\"max_tokens\":8,\"temperature\":0}"))
                                    .build();
                            long t0 = System.nanoTime();
                            int status;
                            try {
                                status = http.send(req, HttpResponse.BodyHandlers.ofString()).statusCode();
                            } catch (Exception e) {
                                status = -1; // lost: no answer at all
                            }
                            results.add(new long[]{status, System.nanoTime() - t0});
                        }
                        return null;
                    }));
                }
                for (Future<?> f : all) {
                    f.get(150, TimeUnit.SECONDS);
                }
            }
            Map<Long, Integer> byStatus = new TreeMap<>();
            List<Long> answered = new ArrayList<>();
            for (long[] r : results) {
                byStatus.merge(r[0], 1, Integer::sum);
                if (r[0] == 200) {
                    answered.add(r[1]);
                }
            }
            Collections.sort(answered);
            System.out.printf("load: %d requests, by status %s; answered p50 %.1f ms, p99 %.1f ms%n", results.size(),
                    byStatus, percentile(answered, 50), percentile(answered, 99));
            assertEquals(CLIENTS * REQUESTS, results.size());
            assertEquals(CLIENTS * REQUESTS, byStatus.getOrDefault(200L, 0) + byStatus.getOrDefault(503L, 0),
                    "only 200 and 503: " + byStatus);
            assertTrue(byStatus.getOrDefault(200L, 0) > 0, "some were answered: " + byStatus);
        }
    }

    private static double percentile(List<Long> sorted, int p) {
        if (sorted.isEmpty()) {
            return Double.NaN;
        }
        return sorted.get(Math.min(sorted.size() - 1, (int) Math.ceil(p / 100.0 * sorted.size()) - 1)) / 1e6;
    }
}
