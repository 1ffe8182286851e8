package dev.qwenvl.cli.hub;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HubClientTest {

    private static final String REPO = "ggml-org/Qwen2.5-VL-3B-Instruct-GGUF";
    private static final String MODEL = "Qwen2.5-VL-3B-Instruct-Q4_K_M.gguf";
    private static final String MMPROJ = "mmproj-Qwen2.5-VL-3B-Instruct-f16.gguf";
    private static final HubModelRef REF = HubModelRef.parse(REPO);

    @TempDir
    Path cache;

    private FakeHub hub;
    private Path repoDir;

    @BeforeEach
    void startHub() throws IOException {
        hub = new FakeHub(REPO);
        repoDir = cache.resolve("models--ggml-org--Qwen2.5-VL-3B-Instruct-GGUF");
    }

    @AfterEach
    void stopHub() {
        hub.close();
    }

    private HubClient client(String endpoint) {
        return HubClient.builder().endpoint(endpoint).cacheDir(cache).token(Optional.of("hf_test"))
                .retryDelay(Duration.ofMillis(10)).build();
    }

    private byte[] addStandardFiles() {
        byte[] model = hub.addLfs(MODEL, 3 * 1024 * 1024 + 17, 1);
        hub.addLfs("Qwen2.5-VL-3B-Instruct-Q8_0.gguf", 4096, 2);
        hub.addLfs(MMPROJ, 1024 * 1024, 3);
        hub.addLfs("mmproj-Qwen2.5-VL-3B-Instruct-Q8_0.gguf", 2048, 4);
        hub.addGit("README.md", "# Qwen2.5-VL-3B-Instruct\n");
        return model;
    }

    @Test
    void downloadLandsInTheHuggingFaceCacheLayout() throws IOException {
        byte[] model = addStandardFiles();
        List<String> events = new ArrayList<>();
        DownloadProgress progress = new DownloadProgress() {
            @Override
            public void finished(String file, long totalBytes) {
                events.add(file + ":" + totalBytes);
            }
        };

        ResolvedModel resolved = client(hub.endpoint()).resolve(REF, progress);

        Path snapshot = repoDir.resolve("snapshots").resolve(FakeHub.COMMIT);
        assertEquals(snapshot.resolve(MODEL), resolved.model());
        assertEquals(snapshot.resolve(MMPROJ), resolved.mmproj());
        assertTrue(Files.isSymbolicLink(resolved.model()));
        String sha = FakeHub.sha256(model);
        assertEquals(Path.of("../../blobs/" + sha), Files.readSymbolicLink(resolved.model()));
        assertEquals(repoDir.resolve("blobs").resolve(sha), resolved.model().toRealPath());
        assertArrayEquals(model, Files.readAllBytes(resolved.model()));
        assertEquals(FakeHub.COMMIT, Files.readString(repoDir.resolve("refs/main")));
        String mmprojSha = FakeHub.sha256(Files.readAllBytes(resolved.mmproj()));
        assertEquals(Stream.of(sha, mmprojSha).sorted().toList(), list(repoDir.resolve("blobs")), "only the chosen files");
        assertEquals(List.of(MODEL + ":" + model.length, MMPROJ + ":" + 1024 * 1024), events);
        assertTrue(hub.requests().stream().filter(r -> r.path().startsWith("/api/"))
                .allMatch(r -> "Bearer hf_test".equals(r.authorization())));

        int before = hub.downloads().size();
        assertEquals(resolved, client(hub.endpoint()).resolve(REF, DownloadProgress.NONE));
        assertEquals(before, hub.downloads().size(), "a cached snapshot is not downloaded again");
    }

    @Test
    void cutConnectionResumesWithARangeRequest() throws IOException {
        byte[] model = addStandardFiles();
        hub.cutDownloads(1, 1_000_000);

        ResolvedModel resolved = client(hub.endpoint()).resolve(REF, DownloadProgress.NONE);

        assertArrayEquals(model, Files.readAllBytes(resolved.model()));
        List<FakeHub.Request> modelGets = hub.downloads().stream()
                .filter(r -> r.path().equals("/cdn/" + FakeHub.sha256(model))).toList();
        assertEquals(2, modelGets.size());
        assertEquals(null, modelGets.get(0).range());
        // The client resumes from what reached its disk: at most what the server sent before cutting.
        long resumedAt = Long.parseLong(modelGets.get(1).range().replaceAll("bytes=(\\d+)-", "$1"));
        assertTrue(resumedAt > 0 && resumedAt <= 1_000_000, modelGets.get(1).range());
        assertTrue(list(repoDir.resolve("blobs")).stream().noneMatch(f -> f.endsWith(".incomplete")));
    }

    @Test
    void partialFileFromAnEarlierRunIsResumed() throws IOException {
        byte[] model = addStandardFiles();
        String sha = FakeHub.sha256(model);
        Files.createDirectories(repoDir.resolve("blobs"));
        Files.write(repoDir.resolve("blobs").resolve(sha + ".incomplete"), Arrays.copyOf(model, 123_456));

        ResolvedModel resolved = client(hub.endpoint()).resolve(REF, DownloadProgress.NONE);

        assertArrayEquals(model, Files.readAllBytes(resolved.model()));
        assertEquals(List.of("bytes=123456-"), hub.downloads().stream()
                .filter(r -> r.path().equals("/cdn/" + sha)).map(FakeHub.Request::range).toList());
    }

    @Test
    void brokenConnectionsStopAfterMaxAttemptsAndKeepThePartialFile() throws IOException {
        byte[] model = addStandardFiles();
        hub.cutDownloads(100, 1000);
        HubClient client = HubClient.builder().endpoint(hub.endpoint()).cacheDir(cache).maxAttempts(3)
                .retryDelay(Duration.ofMillis(10)).build();

        HubException e = assertThrows(HubException.class, () -> client.resolve(REF, DownloadProgress.NONE));

        assertEquals(HubException.Reason.NETWORK, e.reason());
        assertTrue(e.getMessage().contains("run again to resume"), e.getMessage());
        String sha = FakeHub.sha256(model);
        assertEquals(3, hub.downloads().stream().filter(r -> r.path().equals("/cdn/" + sha)).count());
        long kept = Files.size(repoDir.resolve("blobs").resolve(sha + ".incomplete"));
        assertTrue(kept > 0 && kept <= 3000, "kept " + kept + " bytes");
    }

    @Test
    void wrongChecksumFailsAndLeavesNothingInTheCache() throws IOException {
        hub.addLfsWithWrongOid(MODEL, 2 * 1024 * 1024, 5);
        hub.addLfs(MMPROJ, 4096, 6);

        HubException e = assertThrows(HubException.class,
                () -> client(hub.endpoint()).resolve(REF, DownloadProgress.NONE));

        assertEquals(HubException.Reason.CHECKSUM_MISMATCH, e.reason());
        assertTrue(e.getMessage().contains(MODEL) && e.getMessage().contains("expected SHA-256"), e.getMessage());
        assertEquals(List.of(), list(repoDir.resolve("blobs")));
        assertFalse(Files.exists(repoDir.resolve("snapshots")));
        assertFalse(Files.exists(repoDir.resolve("refs")));
    }

    @Test
    void offlineResolvesFromTheCacheWithoutTheNetwork() throws IOException {
        addStandardFiles();
        ResolvedModel online = client(hub.endpoint()).resolve(HubModelRef.parse(REPO + ":q4_k_m"), DownloadProgress.NONE);
        String closed = "http://127.0.0.1:" + FakeHub.closedPort();

        assertEquals(online, client(closed).resolveOffline(REF));

        HubException notThere = assertThrows(HubException.class,
                () -> client(closed).resolveOffline(HubModelRef.parse(REPO + ":Q8_0")));
        assertEquals(HubException.Reason.NOT_CACHED, notThere.reason());
        assertTrue(notThere.getMessage().contains("Q8_0"), notThere.getMessage());
    }

    @Test
    void offlineWithAnEmptyCacheSaysWhatToDo() {
        HubException e = assertThrows(HubException.class, () -> client(hub.endpoint()).resolveOffline(REF));

        assertEquals(HubException.Reason.NOT_CACHED, e.reason());
        assertTrue(e.getMessage().contains("not in the Hugging Face cache at " + cache), e.getMessage());
        assertTrue(e.getMessage().contains("--model FILE --mmproj FILE"), e.getMessage());
        assertTrue(hub.requests().isEmpty(), "offline sends no request");
    }

    @Test
    void noNetworkTellsWhatToPassInstead() throws IOException {
        String closed = "http://127.0.0.1:" + FakeHub.closedPort();

        HubException e = assertThrows(HubException.class, () -> client(closed).resolve(REF, DownloadProgress.NONE));

        assertEquals(HubException.Reason.NETWORK, e.reason());
        assertTrue(e.getMessage().startsWith("cannot reach the Hugging Face Hub at " + closed), e.getMessage());
        assertTrue(e.getMessage().contains("--model FILE --mmproj FILE"), e.getMessage());
        assertTrue(e.getMessage().contains("--offline"), e.getMessage());
    }

    @Test
    void noNetworkPointsAtOfflineWhenTheModelIsCached() throws IOException {
        addStandardFiles();
        client(hub.endpoint()).resolve(REF, DownloadProgress.NONE);
        String closed = "http://127.0.0.1:" + FakeHub.closedPort();

        HubException e = assertThrows(HubException.class, () -> client(closed).resolve(REF, DownloadProgress.NONE));

        assertTrue(e.getMessage().contains("or add --offline: " + REPO + " is in the cache"), e.getMessage());
    }

    @Test
    void unknownRepositoryIsAnHttpErrorNamingIt() {
        HubException e = assertThrows(HubException.class,
                () -> client(hub.endpoint()).resolve(HubModelRef.parse("nobody/nothing"), DownloadProgress.NONE));

        assertEquals(HubException.Reason.HTTP, e.reason());
        assertTrue(e.getMessage().contains("HTTP 404") && e.getMessage().contains("Repository not found")
                && e.getMessage().contains("nobody/nothing"), e.getMessage());
    }

    @Test
    void missingQuantizationListsWhatTheRepositoryHolds() {
        addStandardFiles();

        HubException e = assertThrows(HubException.class,
                () -> client(hub.endpoint()).resolve(HubModelRef.parse(REPO + ":Q2_K"), DownloadProgress.NONE));

        assertEquals(HubException.Reason.NO_MATCHING_FILE, e.reason());
        assertTrue(e.getMessage().contains("quantization Q2_K") && e.getMessage().contains(MODEL), e.getMessage());
        assertTrue(hub.downloads().isEmpty());
    }

    private static List<String> list(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> files = Files.list(dir)) {
            return files.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }
}
