package dev.qwenvl.cli.hub;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * Resolves {@code --hf org/name[:QUANT]} to a local text model and projector, downloading them into the standard
 * Hugging Face cache when needed, like llama.cpp's {@code -hf}.
 *
 * <pre>{@code
 * HubClient hub = HubClient.fromEnvironment();
 * ResolvedModel m = hub.resolve(HubModelRef.parse("ggml-org/Qwen2.5-VL-3B-Instruct-GGUF:Q4_K_M"),
 *                               new TerminalProgressBar(System.err));
 * // m.model() and m.mmproj() are files under ~/.cache/huggingface/hub/models--ggml-org--.../snapshots/<commit>/
 * }</pre>
 *
 * <p><b>Online</b> ({@link #resolve}): {@code GET {endpoint}/api/models/{repo}/refs} gives the commit of {@code main},
 * {@code GET .../tree/{commit}?recursive=true} lists the files with their LFS SHA-256 (or git SHA-1 for small files),
 * and each selected file comes from {@code {endpoint}/{repo}/resolve/{commit}/{file}} (the same requests as llama.cpp;
 * pinning the commit keeps listing and content consistent while {@code main} moves). A download resumes from
 * {@code blobs/<sha256>.incomplete} with an HTTP {@code Range} request, within a run (up to {@link Builder#maxAttempts}
 * tries) and across runs; the content is hashed and must equal the listed checksum, or the partial file is deleted
 * and a {@link HubException.Reason#CHECKSUM_MISMATCH} raised with nothing added to the cache. A verified file is moved
 * to {@code blobs/<sha256>}, linked from {@code snapshots/<commit>/<file>}, and {@code refs/main} is written last.
 * Files already in the snapshot are not fetched again. Redirects are followed (at most 10), and the
 * {@code HF_TOKEN} bearer token is only sent to the endpoint's own host, never to the CDN it redirects to.
 *
 * <p><b>Offline</b> ({@link #resolveOffline}): {@code refs/main} names the snapshot, and the same rule picks among the
 * files present there.
 *
 * <p><b>Which files.</b> The text model is a {@code .gguf} whose name contains none of {@code mmproj},
 * {@code imatrix}, {@code mtp-}, {@code eagle3-}, {@code dflash-}, {@code dspark-}. With {@code :QUANT}: the first
 * such path (sorted) containing it case-insensitively, followed by {@code .} or {@code -} (and, stricter than
 * llama.cpp, preceded by a separator, so {@code Q4_XS} does not pick {@code IQ4_XS}). Without: {@code Q4_K_M}, then
 * {@code Q8_0}, then the first model file, as llama.cpp does. A split model ({@code -00001-of-00003.gguf}) brings all
 * its parts and {@link ResolvedModel#model()} is the first. The projector is a {@code .gguf} whose name starts with
 * {@code mmproj}, in the model's directory or one above it (the deepest wins, as in llama.cpp); among those
 * {@code F16} first, then the most bits in its tag ({@code F32} before {@code Q8_0}), then sorted order. llama.cpp
 * would take the bit width closest to the model's ({@code Q8_0} beside {@code Q4_K_M}); we prefer the full-precision
 * projector because it is small next to the model and quantizing it costs image understanding.
 */
public final class HubClient {

    private static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}");
    private static final Pattern SHA1 = Pattern.compile("[0-9a-f]{40}");
    private static final Pattern NEXT_LINK = Pattern.compile("<([^>]+)>\\s*;\\s*rel=\"?next\"?");
    private static final int MAX_REDIRECTS = 10;
    private static final int MAX_LISTING_PAGES = 100;
    private static final ObjectMapper JSON = new ObjectMapper();

    private final URI endpoint;
    private final Optional<String> token;
    private final HubCache cache;
    private final HttpClient http;
    private final int maxAttempts;
    private final Duration retryDelay;

    private HubClient(Builder b) {
        this.endpoint = URI.create(b.endpoint.replaceAll("/+$", "") + "/");
        this.token = b.token.filter(t -> !t.isBlank());
        this.cache = new HubCache(b.cacheDir);
        this.http = HttpClient.newBuilder()
                .connectTimeout(b.connectTimeout)
                .followRedirects(HttpClient.Redirect.NEVER)
                .build();
        this.maxAttempts = b.maxAttempts;
        this.retryDelay = b.retryDelay;
    }

    /** A client configured from {@code HF_ENDPOINT}, {@code HF_TOKEN} and the cache variables (see {@link Builder#environment}). */
    public static HubClient fromEnvironment() {
        return builder().environment(System.getenv(), System.getProperty("user.home")).build();
    }

    /** A builder with the defaults: {@code https://huggingface.co}, no token, {@code ~/.cache/huggingface/hub}. */
    public static Builder builder() {
        return new Builder();
    }

    /** The Hugging Face cache directory this client reads and fills. */
    public Path cacheDir() {
        return cache.root();
    }

    /**
     * Lists {@code ref}'s repository on the Hub, downloads what the cache lacks and returns the cached paths.
     *
     * @throws HubException {@link HubException.Reason#NETWORK} when the Hub cannot be reached (the message says to pass
     *         {@code --model}/{@code --mmproj} or {@code --offline}), {@code HTTP}, {@code NO_MATCHING_FILE},
     *         {@code CHECKSUM_MISMATCH} or {@code CACHE_IO}
     */
    public ResolvedModel resolve(HubModelRef ref, DownloadProgress progress) {
        Objects.requireNonNull(progress, "progress");
        String commit = mainCommit(ref);
        Map<String, RepoFile> files = listFiles(ref, commit);
        HubFiles.Selection chosen = HubFiles.select(List.copyOf(files.keySet()), ref, endpoint + ref.repo());
        List<Path> local = new ArrayList<>();
        for (String path : chosen.all()) {
            local.add(fetch(ref, commit, files.get(path), progress));
        }
        cache.writeMainCommit(ref, commit);
        return new ResolvedModel(local.getFirst(), local.getLast());
    }

    /**
     * Resolves {@code ref} from the cache alone: {@code refs/main}, then its snapshot.
     *
     * @throws HubException {@link HubException.Reason#NOT_CACHED} when the repository, its ref or a matching file is
     *         missing
     */
    public ResolvedModel resolveOffline(HubModelRef ref) {
        String commit = cache.mainCommit(ref).orElseThrow(() -> new HubException(HubException.Reason.NOT_CACHED,
                ref.repo() + " is not in the Hugging Face cache at " + cache.root() + " (no " + ref.cacheFolderName()
                + "/refs/main); run once without --offline to download it, or pass --model FILE --mmproj FILE"));
        String where = "the cached snapshot " + cache.repoDir(ref).resolve("snapshots").resolve(commit);
        HubFiles.Selection chosen;
        try {
            chosen = HubFiles.select(cache.snapshotFiles(ref, commit), ref, where);
        } catch (HubException e) {
            throw new HubException(HubException.Reason.NOT_CACHED,
                    e.getMessage() + "\nRun once without --offline to download it.", e);
        }
        return new ResolvedModel(cache.snapshotFile(ref, commit, chosen.model().getFirst()),
                cache.snapshotFile(ref, commit, chosen.mmproj()));
    }

    /** A file of the listing: its path, checksum (SHA-256 for LFS files, git blob SHA-1 otherwise) and size. */
    record RepoFile(String path, String oid, boolean lfs, long size) {
    }

    private String mainCommit(HubModelRef ref) {
        JsonNode refs = getJson(ref, api(ref, "refs"));
        for (JsonNode branch : refs.path("branches")) {
            String commit = branch.path("targetCommit").asText("");
            if ("main".equals(branch.path("name").asText()) && SHA1.matcher(commit).matches()) {
                return commit;
            }
        }
        throw new HubException(HubException.Reason.HTTP, "the Hub lists no branch 'main' for " + ref.repo());
    }

    private Map<String, RepoFile> listFiles(HubModelRef ref, String commit) {
        Map<String, RepoFile> files = new LinkedHashMap<>();
        URI page = api(ref, "tree/" + commit + "?recursive=true");
        for (int pages = 0; page != null; pages++) {
            if (pages == MAX_LISTING_PAGES) {
                throw new HubException(HubException.Reason.HTTP, "the listing of " + ref.repo() + " exceeds " + MAX_LISTING_PAGES + " pages");
            }
            HttpResponse<InputStream> response = get(ref, page);
            JsonNode items = readJson(ref, page, response);
            if (!items.isArray()) {
                throw new HubException(HubException.Reason.HTTP, "unexpected listing from " + page + ": not a JSON array");
            }
            for (JsonNode item : items) {
                repoFile(item).ifPresent(f -> files.put(f.path(), f));
            }
            page = response.headers().firstValue("Link").map(NEXT_LINK::matcher).filter(Matcher::find)
                    .map(m -> endpoint.resolve(m.group(1))).orElse(null);
        }
        return files;
    }

    // Files without a checksum we can verify are left out: nothing unverified enters the cache.
    private static Optional<RepoFile> repoFile(JsonNode item) {
        if (!"file".equals(item.path("type").asText())) {
            return Optional.empty();
        }
        String path = item.path("path").asText("");
        JsonNode lfs = item.path("lfs");
        String oid = (lfs.isObject() ? lfs.path("oid") : item.path("oid")).asText("");
        boolean valid = lfs.isObject() ? SHA256.matcher(oid).matches() : SHA1.matcher(oid).matches();
        long size = (lfs.isObject() ? lfs.path("size") : item.path("size")).asLong(-1);
        return valid && !path.isEmpty() && size >= 0 ? Optional.of(new RepoFile(path, oid, lfs.isObject(), size)) : Optional.empty();
    }

    private Path fetch(HubModelRef ref, String commit, RepoFile file, DownloadProgress progress) {
        Path link = cache.snapshotFile(ref, commit, file.path());
        if (Files.isRegularFile(link)) {
            return link;
        }
        Path blob = cache.blob(ref, file.oid());
        if (!Files.isRegularFile(blob)) {
            download(ref, resolveUri(ref, commit, file.path()), file, blob, progress);
        }
        cache.link(blob, link);
        return link;
    }

    private URI resolveUri(HubModelRef ref, String commit, String path) {
        String encoded = Arrays.stream(path.split("/"))
                .map(s -> URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20"))
                .collect(Collectors.joining("/"));
        return endpoint.resolve(ref.repo() + "/resolve/" + commit + "/" + encoded);
    }

    private void download(HubModelRef ref, URI uri, RepoFile file, Path blob, DownloadProgress progress) {
        Path partial = cache.partial(ref, file.oid());
        cache.io(() -> {
            Files.createDirectories(partial.getParent());
            // An empty partial lets an empty file take the same verify-and-move path as any other.
            return Files.exists(partial) ? partial : Files.createFile(partial);
        });
        IOException last = null;
        for (int attempt = 1; attempt <= maxAttempts && size(partial) < file.size(); attempt++) {
            long before = size(partial);
            try {
                transfer(ref, uri, file, partial, progress);
            } catch (IOException e) {
                last = e;
            }
            // A try that moved no byte waits before the next, so a flapping link is not hammered.
            if (size(partial) == before && size(partial) < file.size()) {
                sleep(retryDelay.multipliedBy(attempt));
            }
        }
        if (size(partial) < file.size()) {
            throw new HubException(HubException.Reason.NETWORK, "the download of " + file.path() + " from " + uri.getHost()
                    + " stopped after " + maxAttempts + " tries (" + (last == null ? "the connection kept closing early" : describe(last))
                    + "); run again to resume from " + partial + ", or pass --model FILE --mmproj FILE", last);
        }
        String actual = checksum(partial, file.lfs());
        if (!actual.equals(file.oid())) {
            cache.io(() -> Files.deleteIfExists(partial));
            throw new HubException(HubException.Reason.CHECKSUM_MISMATCH, "checksum mismatch for " + file.path() + " from "
                    + uri.getHost() + ": expected " + (file.lfs() ? "SHA-256 " : "git SHA-1 ") + file.oid() + ", got " + actual
                    + "; the download was discarded, nothing was added to " + cache.root());
        }
        cache.io(() -> Files.move(partial, blob, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING));
        progress.finished(file.path(), file.size());
    }

    /** One request: continues the partial file when the server honours the range, starts over otherwise. */
    private void transfer(HubModelRef ref, URI uri, RepoFile file, Path partial, DownloadProgress progress) throws IOException {
        long have = size(partial);
        if (have > file.size()) {
            Files.delete(partial);
            have = 0;
        }
        HttpResponse<InputStream> response = send(uri, have > 0 ? Optional.of("bytes=" + have + "-") : Optional.empty());
        try (InputStream in = response.body()) {
            boolean append = response.statusCode() == 206
                    && response.headers().firstValue("Content-Range").orElse("").startsWith("bytes " + have + "-");
            if (response.statusCode() == 416 || (response.statusCode() == 206 && !append)) {
                Files.delete(partial);
                return;
            }
            if (response.statusCode() != 200 && response.statusCode() != 206) {
                throw httpError(ref, uri, response.statusCode(), in);
            }
            long done = append ? have : 0;
            progress.started(file.path(), done, file.size());
            try (OutputStream out = Files.newOutputStream(partial, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    append ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING)) {
                byte[] buffer = new byte[1 << 20];
                for (int n; done < file.size() && (n = in.read(buffer, 0, (int) Math.min(buffer.length, file.size() - done))) > 0; ) {
                    out.write(buffer, 0, n);
                    done += n;
                    progress.advanced(file.path(), done, file.size());
                }
            }
        }
    }

    private static String checksum(Path file, boolean sha256) {
        try (InputStream in = Files.newInputStream(file)) {
            MessageDigest digest = MessageDigest.getInstance(sha256 ? "SHA-256" : "SHA-1");
            if (!sha256) {
                // git hashes a blob as "blob <size>\0<content>".
                digest.update(("blob " + Files.size(file) + "\0").getBytes(StandardCharsets.US_ASCII));
            }
            byte[] buffer = new byte[1 << 20];
            for (int n; (n = in.read(buffer)) > 0; ) {
                digest.update(buffer, 0, n);
            }
            return HexFormat.of().formatHex(digest.digest());
        } catch (IOException e) {
            throw new HubException(HubException.Reason.CACHE_IO, "cannot read " + file + ": " + e.getMessage(), e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK provides SHA-256 and SHA-1", e);
        }
    }

    private URI api(HubModelRef ref, String rest) {
        return endpoint.resolve("api/models/" + ref.repo() + "/" + rest);
    }

    private JsonNode getJson(HubModelRef ref, URI uri) {
        return readJson(ref, uri, get(ref, uri));
    }

    private JsonNode readJson(HubModelRef ref, URI uri, HttpResponse<InputStream> response) {
        try (InputStream in = response.body()) {
            if (response.statusCode() != 200) {
                throw httpError(ref, uri, response.statusCode(), in);
            }
            return JSON.readTree(in);
        } catch (IOException e) {
            throw new HubException(HubException.Reason.HTTP, "unreadable answer from " + uri + ": " + e.getMessage(), e);
        }
    }

    /** An API request; failing to connect becomes the no-network error that tells what to pass instead. */
    private HttpResponse<InputStream> get(HubModelRef ref, URI uri) {
        try {
            return send(uri, Optional.empty());
        } catch (IOException e) {
            boolean cached;
            try {
                resolveOffline(ref);
                cached = true;
            } catch (HubException notCached) {
                cached = false;
            }
            throw new HubException(HubException.Reason.NETWORK, "cannot reach the Hugging Face Hub at " + endpoint + " ("
                    + describe(e) + "). Without network, pass local files with --model FILE --mmproj FILE"
                    + (cached ? ", or add --offline: " + ref.repo() + " is in the cache at " + cache.root()
                              : "; --offline would use the cache at " + cache.root() + ", which does not hold " + ref.repo()), e);
        }
    }

    /** GET with redirects followed by hand, so the token stays on the endpoint's host and the Range on every hop. */
    private HttpResponse<InputStream> send(URI uri, Optional<String> range) throws IOException {
        URI current = uri;
        for (int hop = 0; hop <= MAX_REDIRECTS; hop++) {
            HttpRequest.Builder request = HttpRequest.newBuilder(current).GET().header("User-Agent", "qwenvl-cli");
            range.ifPresent(r -> request.header("Range", r));
            if (token.isPresent() && Objects.equals(current.getHost(), endpoint.getHost())) {
                request.header("Authorization", "Bearer " + token.get());
            }
            HttpResponse<InputStream> response;
            try {
                response = http.send(request.build(), HttpResponse.BodyHandlers.ofInputStream());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new HubException(HubException.Reason.NETWORK, "interrupted while requesting " + current, e);
            }
            Optional<String> location = response.headers().firstValue("Location");
            if (response.statusCode() / 100 != 3 || location.isEmpty()) {
                return response;
            }
            response.body().close();
            current = current.resolve(location.get());
        }
        throw new HubException(HubException.Reason.HTTP, "more than " + MAX_REDIRECTS + " redirects from " + uri);
    }

    private HubException httpError(HubModelRef ref, URI uri, int status, InputStream body) throws IOException {
        String text = new String(body.readNBytes(4096), StandardCharsets.UTF_8);
        String detail;
        try {
            detail = JSON.readTree(text).path("error").asText(text);
        } catch (IOException notJson) {
            detail = text;
        }
        String hint = switch (status) {
            case 401, 403 -> token.isPresent()
                    ? "; HF_TOKEN does not grant access to " + ref.repo() + " (gated repositories need their terms accepted on the website)"
                    : "; " + ref.repo() + " may be private or gated: set HF_TOKEN to an access token";
            case 404 -> "; check the repository name " + ref.repo();
            default -> "";
        };
        return new HubException(HubException.Reason.HTTP, "HTTP " + status + " from " + uri + (detail.isBlank() ? "" : ": " + detail.strip()) + hint);
    }

    private static String describe(IOException e) {
        String message = e.getMessage();
        Throwable cause = e.getCause();
        // The JDK's ConnectException often carries no message; its cause (e.g. UnresolvedAddressException) says more.
        String what = message != null && !message.isBlank() ? message : cause != null ? cause.toString() : e.getClass().getSimpleName();
        return e.getClass().getSimpleName() + ": " + what;
    }

    private long size(Path file) {
        return Files.exists(file) ? cache.io(() -> Files.size(file)) : 0;
    }

    private static void sleep(Duration delay) {
        try {
            Thread.sleep(delay);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new HubException(HubException.Reason.NETWORK, "interrupted while waiting to retry a download", e);
        }
    }

    /** Settings of a {@link HubClient}; every one has a default. */
    public static final class Builder {
        private String endpoint = "https://huggingface.co";
        private Optional<String> token = Optional.empty();
        private Path cacheDir = HubCache.defaultRoot(Map.of(), System.getProperty("user.home"));
        private Duration connectTimeout = Duration.ofSeconds(10);
        private int maxAttempts = 5;
        private Duration retryDelay = Duration.ofSeconds(1);

        private Builder() {
        }

        /**
         * Takes {@code HF_ENDPOINT}, {@code HF_TOKEN} and the cache location ({@code HF_HUB_CACHE},
         * {@code HUGGINGFACE_HUB_CACHE}, {@code HF_HOME/hub}, {@code XDG_CACHE_HOME/huggingface/hub}, else
         * {@code userHome/.cache/huggingface/hub}) from {@code env}.
         */
        public Builder environment(Map<String, String> env, String userHome) {
            Optional.ofNullable(env.get("HF_ENDPOINT")).filter(e -> !e.isBlank()).ifPresent(this::endpoint);
            token = Optional.ofNullable(env.get("HF_TOKEN"));
            cacheDir = HubCache.defaultRoot(env, userHome);
            return this;
        }

        /** The Hub's base URL, e.g. {@code https://huggingface.co} or a mirror. */
        public Builder endpoint(String endpoint) {
            URI uri = URI.create(endpoint);
            if (!"https".equals(uri.getScheme()) && !"http".equals(uri.getScheme())) {
                throw new HubException(HubException.Reason.INVALID_REFERENCE, "HF_ENDPOINT must be an http(s) URL, not '" + endpoint + "'");
            }
            this.endpoint = endpoint;
            return this;
        }

        /** The access token sent as {@code Authorization: Bearer} to the endpoint's host; empty for none. */
        public Builder token(Optional<String> token) {
            this.token = token;
            return this;
        }

        /** The Hugging Face cache root (the directory holding {@code models--org--name}). */
        public Builder cacheDir(Path cacheDir) {
            this.cacheDir = cacheDir;
            return this;
        }

        /** How long to wait for a TCP connection to the Hub or its CDN. */
        public Builder connectTimeout(Duration connectTimeout) {
            this.connectTimeout = connectTimeout;
            return this;
        }

        /** How many requests one file may take when connections break, each resuming where the last stopped. */
        public Builder maxAttempts(int maxAttempts) {
            if (maxAttempts < 1) {
                throw new IllegalArgumentException("maxAttempts must be at least 1, got " + maxAttempts);
            }
            this.maxAttempts = maxAttempts;
            return this;
        }

        /** The pause after a try that received nothing, multiplied by the try's number. */
        public Builder retryDelay(Duration retryDelay) {
            this.retryDelay = retryDelay;
            return this;
        }

        /** The client. */
        public HubClient build() {
            return new HubClient(this);
        }
    }
}
