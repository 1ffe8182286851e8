package dev.qwenvl.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Locale;

/**
 * HTTP/1.1 over a plain socket, for requests a well-behaved client library would refuse to send: each opens a
 * connection with {@code Connection: close}, writes the bytes given and reads the answer to the end of the stream.
 */
final class RawHttp {
    static final ObjectMapper JSON = new ObjectMapper();
    static final int READ_TIMEOUT_MS = 60_000;

    /** A parsed answer; {@code status} is -1 when the server closed without answering. */
    record Reply(int status, String head, String body) {
        JsonNode json() {
            try {
                return JSON.readTree(body);
            } catch (IOException e) {
                throw new AssertionError("not JSON (status " + status + "): " + body, e);
            }
        }

        String header(String name) {
            for (String line : head.split("\r\n")) {
                int colon = line.indexOf(':');
                if (colon > 0 && line.substring(0, colon).trim().equalsIgnoreCase(name)) {
                    return line.substring(colon + 1).trim();
                }
            }
            return null;
        }
    }

    private RawHttp() {
    }

    static Socket connect(URI base) throws IOException {
        Socket s = new Socket(base.getHost(), base.getPort());
        s.setSoTimeout(READ_TIMEOUT_MS);
        return s;
    }

    /** Sends a request with a body and the given extra header lines (each ending in CRLF). */
    static Reply post(URI base, String path, byte[] body, String extraHeaders) {
        String head = "POST " + path + " HTTP/1.1\r\nHost: " + base.getHost() + "\r\nConnection: close\r\n"
                + "Content-Type: application/json\r\nContent-Length: " + body.length + "\r\n" + extraHeaders + "\r\n";
        return exchange(base, concat(head.getBytes(StandardCharsets.ISO_8859_1), body));
    }

    /** Writes {@code request} as is and reads the answer. */
    static Reply exchange(URI base, byte[] request) {
        try (Socket s = connect(base)) {
            OutputStream out = s.getOutputStream();
            try {
                out.write(request);
                out.flush();
            } catch (IOException e) {
                // the server may answer and close before reading everything (a body too large): read what it said
            }
            return read(s.getInputStream());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Reads a whole answer until the server closes; chunked bodies are decoded. */
    static Reply read(InputStream in) throws IOException {
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        byte[] buf = new byte[8192];
        try {
            for (int n; (n = in.read(buf)) >= 0; ) {
                all.write(buf, 0, n);
            }
        } catch (SocketTimeoutException e) {
            throw new AssertionError("the server neither answered nor closed within " + READ_TIMEOUT_MS + " ms");
        } catch (IOException e) {
            // a reset after the answer: keep what arrived
        }
        byte[] bytes = all.toByteArray();
        int end = indexOf(bytes, 0, "\r\n\r\n");
        if (end < 0) {
            return new Reply(-1, new String(bytes, StandardCharsets.ISO_8859_1), "");
        }
        String head = new String(bytes, 0, end, StandardCharsets.ISO_8859_1);
        byte[] body = java.util.Arrays.copyOfRange(bytes, end + 4, bytes.length);
        if (head.toLowerCase(Locale.ROOT).contains("transfer-encoding: chunked")) {
            body = dechunk(body);
        }
        return new Reply(Integer.parseInt(head.split(" ")[1]), head, new String(body, StandardCharsets.UTF_8));
    }

    private static byte[] dechunk(byte[] body) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int at = 0;
        while (at < body.length) {
            int eol = indexOf(body, at, "\r\n");
            if (eol < 0) {
                break;
            }
            int size = Integer.parseInt(new String(body, at, eol - at, StandardCharsets.ISO_8859_1).split(";")[0]
                    .trim(), 16);
            if (size == 0) {
                break;
            }
            out.write(body, eol + 2, Math.min(size, body.length - eol - 2));
            at = eol + 2 + size + 2;
        }
        return out.toByteArray();
    }

    private static int indexOf(byte[] bytes, int from, String ascii) {
        byte[] needle = ascii.getBytes(StandardCharsets.ISO_8859_1);
        outer:
        for (int i = from; i <= bytes.length - needle.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (bytes[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }

    static byte[] concat(byte[] a, byte[] b) {
        byte[] c = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, c, a.length, b.length);
        return c;
    }
}
