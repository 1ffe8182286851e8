package dev.qwenvl.server;

import org.eclipse.jetty.client.CompletableResponseListener;
import org.eclipse.jetty.client.ContentResponse;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.client.Request;
import org.eclipse.jetty.util.Promise;
import org.eclipse.jetty.util.SocketAddressResolver;

import java.io.IOException;
import java.io.InputStream;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Turns an {@code image_url} into the image file's bytes: {@code data:} URIs always, {@code http(s)} URLs only when the
 * operator allows them (size, time and redirect limits; every hop's addresses checked at connection time, so no
 * loopback, link-local or private address unless allowed), {@code file:} URLs only under the media directory.
 */
final class ImageFetcher implements AutoCloseable {
    private final ServerOptions options;
    private final HttpClient http;
    private final Path mediaDir;

    ImageFetcher(ServerOptions options) throws Exception {
        this.options = options;
        this.mediaDir = options.mediaDir() == null ? null : options.mediaDir().toRealPath();
        if (options.allowRemoteImages()) {
            http = new HttpClient();
            http.setFollowRedirects(true);
            http.setMaxRedirects(options.maxRedirects());
            http.setConnectTimeout(options.remoteImageTimeout().toMillis());
            http.setSocketAddressResolver(new PublicAddressResolver(options.allowPrivateHosts()));
            http.setUserAgentField(null);
            http.start();
        } else {
            http = null;
        }
    }

    /** The bytes behind {@code url}; {@code param} names the field in errors. */
    byte[] fetch(String url, String param) {
        String scheme = url.length() >= 5 ? url.substring(0, url.indexOf(':') < 0 ? 0 : url.indexOf(':'))
                .toLowerCase(Locale.ROOT) : "";
        return switch (scheme) {
            case "data" -> dataUri(url, param);
            case "http", "https" -> remote(url, param);
            case "file" -> file(url, param);
            default -> throw ApiException.invalid(param, "an image URL must be a data:image/...;base64 URI"
                    + (options.allowRemoteImages() ? ", an http(s) URL" : "")
                    + (mediaDir != null ? ", a file: URL under the media directory" : ""));
        };
    }

    private byte[] dataUri(String url, String param) {
        int comma = url.indexOf(',');
        if (comma < 0) {
            throw ApiException.invalid(param, "the data: URI has no comma before its data");
        }
        String header = url.substring(5, comma).toLowerCase(Locale.ROOT);
        if (!header.endsWith(";base64")) {
            throw ApiException.invalid(param, "the data: URI must be base64 (data:image/png;base64,...)");
        }
        String mediaType = header.substring(0, header.length() - ";base64".length());
        if (!mediaType.isEmpty() && !mediaType.startsWith("image/") && !mediaType.equals("application/octet-stream")) {
            throw ApiException.invalid(param, "the data: URI's media type is " + mediaType + ", not image/*");
        }
        long encoded = url.length() - comma - 1L;
        if (encoded / 4 * 3 > options.maxImageBytes()) {
            throw imageTooLarge(param);
        }
        try {
            return Base64.getDecoder().decode(url.substring(comma + 1));
        } catch (IllegalArgumentException e) {
            throw ApiException.invalid(param, "the data: URI is not valid base64: " + e.getMessage());
        }
    }

    private byte[] remote(String url, String param) {
        if (http == null) {
            throw ApiException.invalid(param, "this server does not fetch http(s) image URLs (the operator did not"
                    + " give --allow-remote-images); send the image as a data: URI");
        }
        URI uri;
        try {
            uri = new URI(url);
        } catch (URISyntaxException e) {
            throw ApiException.invalid(param, "the image URL is malformed: " + e.getMessage());
        }
        if (uri.getHost() == null) {
            throw ApiException.invalid(param, "the image URL has no host");
        }
        Request request = http.newRequest(uri).timeout(options.remoteImageTimeout().toMillis(),
                TimeUnit.MILLISECONDS);
        ContentResponse response;
        try {
            response = new CompletableResponseListener(request, options.maxImageBytes()).send()
                    .get(options.remoteImageTimeout().toMillis() + 1000, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw ApiException.invalid(param, "fetching the image was interrupted");
        } catch (ExecutionException | TimeoutException e) {
            Throwable cause = e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
            String why = cause.getMessage() != null && cause.getMessage().contains("Buffering capacity")
                    ? "it is larger than " + options.maxImageBytes() + " bytes"
                    : cause instanceof TimeoutException ? "it took longer than " + options.remoteImageTimeout()
                    : String.valueOf(cause.getMessage());
            throw ApiException.invalid(param, "the image at " + uri.getHost() + " could not be fetched: " + why);
        }
        if (response.getStatus() != 200) {
            throw ApiException.invalid(param, "fetching the image from " + uri.getHost() + " gave HTTP status "
                    + response.getStatus());
        }
        return response.getContent();
    }

    private byte[] file(String url, String param) {
        if (mediaDir == null) {
            throw ApiException.invalid(param, "this server reads no file: URLs (the operator gave no --media-dir)");
        }
        Path path;
        try {
            path = Path.of(new URI(url)).toRealPath();
        } catch (URISyntaxException | IllegalArgumentException | java.nio.file.FileSystemNotFoundException
                 | IOException | SecurityException e) {
            throw ApiException.invalid(param, "the file: URL names no readable file under the media directory");
        }
        if (!path.startsWith(mediaDir) || !Files.isRegularFile(path)) {
            throw ApiException.invalid(param, "the file: URL names no readable file under the media directory");
        }
        try (InputStream in = Files.newInputStream(path)) {
            byte[] bytes = in.readNBytes(options.maxImageBytes() + 1);
            if (bytes.length > options.maxImageBytes()) {
                throw imageTooLarge(param);
            }
            return bytes;
        } catch (IOException e) {
            throw ApiException.invalid(param, "the file under the media directory cannot be read");
        }
    }

    private ApiException imageTooLarge(String param) {
        return new ApiException(400, "invalid_request_error", "image_too_large", param, "the image is larger than "
                + options.maxImageBytes() + " bytes");
    }

    @Override
    public void close() throws Exception {
        if (http != null) {
            http.stop();
        }
    }

    /** Whether an address is one a fetch for a client must not reach unless the operator allows it. */
    static boolean isPrivate(InetAddress a) {
        if (a.isAnyLocalAddress() || a.isLoopbackAddress() || a.isLinkLocalAddress() || a.isSiteLocalAddress()
                || a.isMulticastAddress()) {
            return true;
        }
        byte[] b = a.getAddress();
        if (a instanceof Inet4Address) {
            int first = b[0] & 0xff;
            int second = b[1] & 0xff;
            return first == 0 || first >= 240 || (first == 100 && second >= 64 && second < 128) // CGNAT
                    || (first == 192 && second == 0 && (b[2] & 0xff) == 0) || (first == 198 && (second & 0xfe) == 18);
        }
        if (a instanceof Inet6Address) {
            boolean uniqueLocal = (b[0] & 0xfe) == 0xfc;
            boolean mappedOrCompat = java.util.Arrays.equals(b, 0, 10, new byte[10], 0, 10);
            boolean sixToFour = (b[0] & 0xff) == 0x20 && (b[1] & 0xff) == 0x02;
            boolean nat64 = (b[0] & 0xff) == 0x00 && (b[1] & 0xff) == 0x64 && (b[2] & 0xff) == 0xff
                    && (b[3] & 0xff) == 0x9b;
            return uniqueLocal || mappedOrCompat || sixToFour || nat64;
        }
        return true;
    }

    /**
     * Resolves a host and keeps only the addresses a client may make the server fetch from; the connection uses
     * exactly these, so a name that re-resolves to a private address later gains nothing.
     */
    private static final class PublicAddressResolver implements SocketAddressResolver {
        private final boolean allowPrivate;

        PublicAddressResolver(boolean allowPrivate) {
            this.allowPrivate = allowPrivate;
        }

        @Override
        public void resolve(String host, int port, Map<String, Object> context,
                            Promise<List<InetSocketAddress>> promise) {
            Thread.ofVirtual().name("qwenvl-image-dns").start(() -> {
                try {
                    List<InetSocketAddress> allowed = java.util.Arrays.stream(InetAddress.getAllByName(host))
                            .filter(a -> allowPrivate || !isPrivate(a))
                            .map(a -> new InetSocketAddress(a, port)).toList();
                    if (allowed.isEmpty()) {
                        promise.failed(new UnknownHostException(host + " resolves only to loopback, link-local or"
                                + " private addresses, which this server does not fetch from"));
                    } else {
                        promise.succeeded(allowed);
                    }
                } catch (UnknownHostException e) {
                    promise.failed(new UnknownHostException(host + " cannot be resolved"));
                }
            });
        }
    }
}
