package io.github.openaiproxy.core.images;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/**
 * Fetches an image link the upstream returned, a server-side request with limits: only {@code http(s)} links to
 * an allowed origin (a {@code images.fetch-hosts} host on its scheme's default port, {@code host:port} as
 * listed, or the upstream's own host and port); redirects followed by hand, each hop checked again, at most
 * five; a deadline for the whole fetch, body included; {@code 200} with an {@code image/*} type only.
 */
final class SafeFetcher {
    private static final int MAX_REDIRECTS = 5;

    /** Made on the first fetch: its selector thread (never closed on Java 17) is not an engine's until it fetches. */
    private volatile HttpClient client;

    private final Set<String> allowed;
    private final Duration timeout;

    /**
     * @param fetchHosts {@code host} or {@code host:port} entries
     * @param upstream the upstream's base URL: its host and port are allowed
     */
    SafeFetcher(List<String> fetchHosts, URI upstream, Duration timeout) {
        this.allowed = fetchHosts.stream().map(SafeFetcher::withPort).collect(Collectors.toUnmodifiableSet());
        this.timeout = timeout;
        if (upstream != null && upstream.getHost() != null) {
            java.util.HashSet<String> all = new java.util.HashSet<>(allowed);
            all.add(origin(upstream));
            this.allowedWithUpstream = Set.copyOf(all);
        } else {
            this.allowedWithUpstream = allowed;
        }
    }

    private final Set<String> allowedWithUpstream;

    private HttpClient client() {
        HttpClient c = client;
        if (c == null) {
            synchronized (this) {
                c = client;
                if (c == null) {
                    c = HttpClient.newBuilder()
                            .followRedirects(HttpClient.Redirect.NEVER)
                            .connectTimeout(timeout)
                            .build();
                    client = c;
                }
            }
        }
        return c;
    }

    private static String withPort(String entry) {
        String e = entry.toLowerCase(Locale.ROOT);
        return e.contains(":") && !e.startsWith("[") ? e : e + ":default";
    }

    /** {@code host:port} of a link, or {@code host:default} on its scheme's default port. */
    private static String origin(URI uri) {
        String host = uri.getHost().toLowerCase(Locale.ROOT);
        int port = uri.getPort();
        boolean defaultPort = port == -1
                || ("https".equalsIgnoreCase(uri.getScheme()) && port == 443)
                || ("http".equalsIgnoreCase(uri.getScheme()) && port == 80);
        return host + ":" + (defaultPort ? "default" : Integer.toString(port));
    }

    /** Whether a link may be fetched. */
    boolean allows(URI uri) {
        if (uri == null || uri.getHost() == null || uri.getRawUserInfo() != null) {
            return false;
        }
        String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
        if (!scheme.equals("https") && !scheme.equals("http")) {
            return false;
        }
        return allowedWithUpstream.contains(origin(uri));
    }

    /**
     * A fetched image: its declared type and its body, to be read and closed by the caller; {@code deadline} (a
     * {@link System#nanoTime} value) is when the body is closed under its reader.
     */
    record Fetched(String contentType, long declaredLength, InputStream body, long deadline) {
        /** Whether the fetch has run out of time (a read that fails now failed for that). */
        boolean pastDeadline() {
            return System.nanoTime() - deadline >= 0;
        }
    }

    /** Fetches {@code link}; the deadline also closes the body if reading it takes too long. */
    Fetched fetch(String link) {
        URI uri;
        try {
            uri = URI.create(link);
        } catch (IllegalArgumentException e) {
            throw new ImageFetchException(ImageFetchException.BAD_LINK, "not a link");
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        for (int hop = 0; hop <= MAX_REDIRECTS; hop++) {
            if (!allows(uri)) {
                throw new ImageFetchException(
                        ImageFetchException.REFUSED_HOST, "host not allowed by images.fetch-hosts: " + uri.getHost());
            }
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                throw new ImageFetchException(ImageFetchException.TIMEOUT, "image fetch timed out");
            }
            HttpRequest request = HttpRequest.newBuilder(uri)
                    // Plain HTTP/1.1 over http://: the JDK client would otherwise ask every host to upgrade to
                    // h2c, which some servers mishandle (a fetch that hung until its timeout); TLS negotiates.
                    .version(
                            "https".equalsIgnoreCase(uri.getScheme())
                                    ? HttpClient.Version.HTTP_2
                                    : HttpClient.Version.HTTP_1_1)
                    .timeout(Duration.ofNanos(left))
                    .header("Accept", "image/*")
                    .GET()
                    .build();
            HttpResponse<InputStream> response;
            try {
                response = client().send(request, HttpResponse.BodyHandlers.ofInputStream());
            } catch (HttpTimeoutException e) {
                throw new ImageFetchException(ImageFetchException.TIMEOUT, "image fetch timed out", e);
            } catch (IOException e) {
                throw new ImageFetchException(ImageFetchException.FAILED, "image fetch failed: " + e.getMessage(), e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new ImageFetchException(ImageFetchException.FAILED, "image fetch interrupted", e);
            }
            int status = response.statusCode();
            if (status >= 300 && status < 400) {
                close(response.body());
                String location = response.headers().firstValue("Location").orElse(null);
                if (location == null) {
                    throw new ImageFetchException(ImageFetchException.BAD_LINK, "redirect without Location");
                }
                try {
                    uri = uri.resolve(location);
                } catch (IllegalArgumentException e) {
                    throw new ImageFetchException(ImageFetchException.BAD_LINK, "redirect to a malformed link");
                }
                continue;
            }
            if (status != 200) {
                close(response.body());
                throw new ImageFetchException(ImageFetchException.FAILED, "image link answered " + status);
            }
            String type = response.headers()
                    .firstValue("Content-Type")
                    .map(t -> t.split(";", 2)[0].strip().toLowerCase(Locale.ROOT))
                    .orElse("");
            if (!type.startsWith("image/")) {
                close(response.body());
                throw new ImageFetchException(
                        ImageFetchException.NOT_AN_IMAGE, "image link served " + (type.isEmpty() ? "no type" : type));
            }
            long length = response.headers().firstValueAsLong("Content-Length").orElse(-1);
            InputStream body = response.body();
            // The deadline covers the body too: a stalled read ends when the stream is closed under it.
            long rest = Math.max(1, deadline - System.nanoTime());
            CompletableFuture.delayedExecutor(rest, TimeUnit.NANOSECONDS).execute(() -> close(body));
            return new Fetched(type, length, body, deadline);
        }
        throw new ImageFetchException(ImageFetchException.FAILED, "too many redirects");
    }

    static void close(InputStream in) {
        try {
            in.close();
        } catch (IOException e) {
            // nothing more to release
        }
    }
}
