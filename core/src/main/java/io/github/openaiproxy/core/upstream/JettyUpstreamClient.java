package io.github.openaiproxy.core.upstream;

import io.github.openaiproxy.core.internal.Bodies;
import io.github.openaiproxy.core.keys.SecretMasker;
import java.io.IOException;
import java.net.SocketTimeoutException;
import java.net.http.HttpHeaders;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;
import org.eclipse.jetty.client.BytesRequestContent;
import org.eclipse.jetty.client.Connection;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.client.HttpClientTransport;
import org.eclipse.jetty.client.Request;
import org.eclipse.jetty.client.Response;
import org.eclipse.jetty.client.transport.HttpClientTransportDynamic;
import org.eclipse.jetty.client.transport.HttpClientTransportOverHTTP;
import org.eclipse.jetty.http.HttpCookieStore;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpVersion;
import org.eclipse.jetty.io.ClientConnectionFactory;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.eclipse.jetty.util.thread.ScheduledExecutorScheduler;
import org.eclipse.jetty.util.thread.Scheduler;

/**
 * The {@link UpstreamClient} on Jetty's {@link HttpClient}, the default when {@code jetty-client} is on the
 * class path. Against the JDK client it reaches a streamed first event about three times sooner (the JDK
 * client spends several hundred microseconds on a chunked response before handing its first bytes over),
 * and it reads the body with the same demand: a chunk is read only when the relay asked for one.
 *
 * <p>Set up as a proxy's client, not a browser's: no cookie store, no redirects, no authentication or
 * {@code Expect} handling, no content decoding (compressed bodies pass through untouched), no
 * {@code User-Agent} of its own, and no cap on connections per upstream below what the streams need.
 * HTTP/1.1 over plain or TLS connections, or HTTP/2 where {@link UpstreamConfig#httpVersion()} asks for it; one small
 * thread pool serves every connection.
 */
final class JettyUpstreamClient implements UpstreamClient {
    private static final System.Logger LOG = System.getLogger(JettyUpstreamClient.class.getName());
    /** Headers the transport writes itself. */
    private static final Set<String> RESTRICTED =
            Set.of("connection", "content-length", "expect", "host", "upgrade", "transfer-encoding");
    /** How long a pooled connection may stay unused before it is closed. */
    static final java.time.Duration POOLED_IDLE = java.time.Duration.ofSeconds(30);

    private final HttpClient client;
    private final UpstreamConfig config;
    /** Whether this class made the client: one with another connect timeout or transport is then made anew. */
    private final boolean made;
    /** Whether this instance stops the client: not an application's, nor a view on the proxy's (see withSettings). */
    private final boolean owned;

    private JettyUpstreamClient(HttpClient client, UpstreamConfig config, boolean made, boolean owned) {
        this.client = client;
        this.config = config;
        this.made = made;
        this.owned = owned;
    }

    /**
     * An application's own started client (its TLS, proxies, executor), used as it is and never stopped here.
     * Redirects are turned off per request; what would make it act as a browser is refused, since changing
     * it here would change it for the rest of the application.
     */
    static JettyUpstreamClient given(UpstreamConfig config, HttpClient client) {
        java.util.Objects.requireNonNull(client, "client");
        if (!client.isStarted()) {
            throw new IllegalArgumentException("the upstream Jetty HttpClient must be started");
        }
        if (!(client.getHttpCookieStore() instanceof HttpCookieStore.Empty)) {
            throw new IllegalArgumentException("the upstream Jetty HttpClient must have no cookie store"
                    + " (HttpCookieStore.Empty): cookies would pass between users");
        }
        if (!client.getContentDecoderFactories().isEmpty()) {
            throw new IllegalArgumentException("the upstream Jetty HttpClient must have no content decoders"
                    + " (getContentDecoderFactories().clear() after start): compressed bodies pass through");
        }
        if (client.getUserAgentField() != null) {
            throw new IllegalArgumentException("the upstream Jetty HttpClient must send no User-Agent of its own"
                    + " (setUserAgentField(null)): the proxy sends the caller's");
        }
        if (client.getDefaultRequestContentType() != null) {
            throw new IllegalArgumentException("the upstream Jetty HttpClient must add no Content-Type of its own"
                    + " (setDefaultRequestContentType(null)): the proxy sends the caller's");
        }
        String refused = versionRefused(config.httpVersion(), client.getTransport());
        if (refused != null) {
            throw new IllegalArgumentException("upstream-http-version is " + refused);
        }
        return new JettyUpstreamClient(client, config, false, false);
    }

    /**
     * Why an application's client cannot speak the version asked for ("2, but ..."), or null when it can: a transport is fixed when
     * its client is built, so the setting cannot be applied to it, and ignoring it would speak another version than
     * the one configured. {@code auto}, and a transport this cannot tell, leave the choice to the client. Without the
     * setting's name: {@code upstream-http-version} and {@code upstreams.<name>.http-version} share it.
     */
    private static String versionRefused(UpstreamConfig.HttpVersion version, HttpClientTransport transport) {
        boolean http11Only = transport instanceof HttpClientTransportOverHTTP
                || transport instanceof HttpClientTransportDynamic && !offersHttp2(transport);
        boolean http2 = transport.getClass().getName().equals(HTTP2_TRANSPORT)
                || transport instanceof HttpClientTransportDynamic && offersHttp2(transport);
        if (version == UpstreamConfig.HttpVersion.HTTP_2 && http11Only) {
            return "2, but the upstream Jetty HttpClient speaks only HTTP/1.1: build it on an HTTP/2 transport"
                    + " (HttpClientTransportDynamic with ClientConnectionFactoryOverHTTP2, or"
                    + " HttpClientTransportOverHTTP2), or set the version to auto";
        }
        if (version == UpstreamConfig.HttpVersion.HTTP_1_1 && http2) {
            return "1.1, but the upstream Jetty HttpClient's transport speaks HTTP/2: build it on"
                    + " HttpClientTransportOverHTTP, or set the version to auto";
        }
        return null;
    }

    private static final String HTTP2_TRANSPORT =
            "org.eclipse.jetty.http2.client.transport.HttpClientTransportOverHTTP2";

    /** Whether a dynamic transport lists HTTP/2 among its protocols (h2 over TLS, h2c in the clear). */
    private static boolean offersHttp2(HttpClientTransport transport) {
        for (ClientConnectionFactory.Info info :
                ((HttpClientTransportDynamic) transport).getBeans(ClientConnectionFactory.Info.class)) {
            for (boolean secure : new boolean[] {true, false}) {
                List<String> protocols = info.getProtocols(secure);
                if (protocols.contains("h2") || protocols.contains("h2c")) {
                    return true;
                }
            }
        }
        return false;
    }

    @Override
    public UpstreamClient withTimeouts(java.time.Duration connectTimeout, java.time.Duration responseTimeout) {
        return withSettings(connectTimeout, responseTimeout, config.httpVersion());
    }

    /**
     * On a client this class made: a view on it (its connections and threads, closing it stops nothing) when the
     * connect timeout and the transport are its own, since the response timeout is per request; else a new client.
     * On an application's client: a view with the new response timeout, its connect timeout and transport kept.
     */
    @Override
    public UpstreamClient withSettings(
            java.time.Duration connectTimeout,
            java.time.Duration responseTimeout,
            UpstreamConfig.HttpVersion httpVersion) {
        UpstreamConfig c = config.withConnectTimeout(connectTimeout)
                .withResponseTimeout(responseTimeout)
                .withHttpVersion(httpVersion);
        if (made) {
            return shares(c) ? new JettyUpstreamClient(client, c, true, false) : create(c);
        }
        // An application's client speaks its transport's version: checked, as for upstream-http-version.
        String refused = versionRefused(httpVersion, client.getTransport());
        if (refused != null) {
            throw new IllegalArgumentException(refused);
        }
        return new JettyUpstreamClient(client, c, false, false);
    }

    /**
     * Whether calls with {@code other} can go through this client: the connect timeout is the client's and the version
     * its transport's ({@code create} builds HTTP/2's only for {@code 2}); the response timeout is per request, but an
     * HTTP/2 connection is closed once silent for the client's idle time ({@link JettyHttp2#connectionIdle}), so a
     * longer response timeout there needs a client whose connections wait as long.
     */
    private boolean shares(UpstreamConfig other) {
        boolean http2 = config.httpVersion() == UpstreamConfig.HttpVersion.HTTP_2;
        return other.connectTimeout().equals(config.connectTimeout())
                && http2 == (other.httpVersion() == UpstreamConfig.HttpVersion.HTTP_2)
                && (!http2 || other.responseTimeout().toMillis() <= client.getIdleTimeout());
    }

    static JettyUpstreamClient create(UpstreamConfig config) {
        return create(config, POOLED_IDLE);
    }

    /** With another idle time for pooled connections (tests). */
    static JettyUpstreamClient create(UpstreamConfig config, java.time.Duration pooledIdle) {
        // Callbacks never block, so a few threads carry any number of streams.
        int threads = Math.max(4, 2 * Runtime.getRuntime().availableProcessors());
        QueuedThreadPool pool = new QueuedThreadPool(threads, 2, 60_000);
        pool.setName("openai-proxy-upstream");
        pool.setDaemon(true);
        boolean http2 = config.httpVersion() == UpstreamConfig.HttpVersion.HTTP_2;
        HttpClient client = http2 ? new HttpClient(JettyHttp2.transport()) : new HttpClient();
        client.setExecutor(pool);
        client.setScheduler(new ScheduledExecutorScheduler("openai-proxy-upstream-timer", true));
        client.setConnectTimeout(config.connectTimeout().toMillis());
        client.setIdleTimeout((http2 ? JettyHttp2.connectionIdle(pooledIdle, config) : pooledIdle).toMillis());
        client.setFollowRedirects(false);
        client.setUserAgentField(null);
        client.setDefaultRequestContentType(null);
        client.setHttpCookieStore(new HttpCookieStore.Empty());
        client.setMaxConnectionsPerDestination(Integer.MAX_VALUE);
        client.setMaxRequestsQueuedPerDestination(Integer.MAX_VALUE);
        client.setMaxResponseHeadersSize(64 * 1024);
        // Jetty's 8 KB default is the containers' own limit: a client's head they admitted, plus the proxy's
        // key and headers, failed here before sending (a 502 for the client's own long query).
        client.setMaxRequestHeadersSize(64 * 1024);
        try {
            client.start();
        } catch (Exception e) {
            throw new IllegalStateException("the upstream client did not start", e);
        }
        // Both are filled in by start(): redirects, authentication, 100-continue; gzip and the other decoders.
        client.getProtocolHandlers().clear();
        client.getContentDecoderFactories().clear();
        return new JettyUpstreamClient(client, config, true, true);
    }

    @Override
    public CompletableFuture<UpstreamResponse> send(UpstreamRequest request) {
        CompletableFuture<UpstreamResponse> result = new CompletableFuture<>();
        // Jetty keeps the request's listeners for the whole exchange, a stream's lifetime: they reach the
        // answer (its headers) only until it is handed over.
        AtomicReference<CompletableFuture<UpstreamResponse>> pending = new AtomicReference<>(result);
        Request r = client.newRequest(request.uri())
                .method(request.method())
                .followRedirects(false) // also on an application's client: redirects go to the caller
                // No idle limit on a running exchange (a model may think for minutes); the headers have theirs.
                .idleTimeout(0, TimeUnit.MILLISECONDS);
        r.headers(h -> request.headers().map().forEach((name, values) -> {
            if (!RESTRICTED.contains(name.toLowerCase(Locale.ROOT))) {
                values.forEach(v -> h.add(name, v));
            }
        }));
        String contentType = io.github.openaiproxy.core.internal.HeaderMap.first(request.headers(), "content-type");
        JettyStreamedContent streamed = null;
        if (request.streamedBody() != null) {
            streamed = new JettyStreamedContent(contentType, request.streamedBody());
            r.body(streamed);
        } else if (request.body().length > 0 || bodyExpected(request.method())) {
            r.body(new BytesRequestContent(contentType, request.body()));
        }
        JettyStreamedContent streamedContent = streamed;
        java.util.concurrent.atomic.AtomicBoolean sent = new java.util.concurrent.atomic.AtomicBoolean();
        r.onRequestSuccess(sentWhole -> sent.set(true));
        Scheduler.Task headersTimer = client.getScheduler()
                .schedule(
                        () -> abort(r, streamedContent, new HeadersTimeout(sent.get())),
                        config.responseTimeout().toMillis(),
                        TimeUnit.MILLISECONDS);
        r.onResponseContentSource((response, source) -> {
            headersTimer.cancel();
            JettyBodyPublisher body = new JettyBodyPublisher(
                    source, JettyUpstreamClient::translate, cause -> abortNow(r, response, cause));
            CompletableFuture<UpstreamResponse> waiting = pending.getAndSet(null);
            if (waiting == null
                    || !waiting.complete(
                                    new UpstreamResponse(response.getStatus(), headers(response.getHeaders()), body))
                            && waiting.isCancelled()) {
                // The caller gave up while the headers were on their way: release the connection.
                Bodies.discard(body);
            }
        });
        Response.CompleteListener done = outcome -> {
            headersTimer.cancel();
            if (outcome.isFailed() && streamedContent != null) {
                streamedContent.fail(outcome.getFailure()); // stop reading the client's body
            }
            CompletableFuture<UpstreamResponse> waiting = outcome.isFailed() ? pending.getAndSet(null) : null;
            if (waiting != null) {
                waiting.completeExceptionally(translate(outcome.getFailure()));
            }
        };
        if (streamedContent != null) {
            streamedContent.onFirstSignal(() -> r.send(done)); // the head goes out with the first buffer
        } else {
            r.send(done);
        }
        result.whenComplete((response, error) -> {
            if (result.isCancelled()) {
                abort(r, streamedContent, new CancellationException("the caller cancelled the upstream call"));
            }
        });
        return result;
    }

    /** Aborts {@code r}; one still waiting for its body's first buffer is sent now, to fail at once. */
    private static void abort(Request r, JettyStreamedContent content, Throwable cause) {
        r.abort(cause);
        if (content != null) {
            content.fail(cause);
        }
    }

    /**
     * Aborts {@code r} for a reader that went away, so that the upstream sees it at once. A cancel from inside one of
     * Jetty's callbacks for this exchange (the answer's first event written from the content-source callback, a write
     * failing in {@code onNext}) only queues the abort behind the running callback, that is behind the proxy's
     * settling of the call (tokens, observers, ledger): the upstream would stream on, and bill, meanwhile. An
     * HTTP/1.1 connection whose exchange is aborted is never reused, so it is closed here too, which takes effect at
     * once; not one that had already completed (the abort then answers false at once: the connection may be back in
     * the pool), nor a multiplexed HTTP/2 one, which other calls share.
     */
    private static void abortNow(Request r, Response response, Throwable cause) {
        CompletableFuture<Boolean> aborted = r.abort(cause);
        Connection connection = r.getConnection();
        if (aborted.getNow(true)
                && connection != null
                && response.getVersion().getVersion() < HttpVersion.HTTP_2.getVersion()) {
            connection.close();
        }
    }

    /** Methods whose empty body still gets {@code Content-Length: 0}, as servers expect. */
    private static boolean bodyExpected(String method) {
        return method.equals("POST") || method.equals("PUT") || method.equals("PATCH");
    }

    private static HttpHeaders headers(Iterable<HttpField> fields) {
        // HttpHeaders.of sorts the names itself: group them in a hash map first, and merge names that differ
        // only in case (which it refuses, and which Jetty's parser seldom leaves) only when there are some.
        Map<String, List<String>> map = new HashMap<>();
        for (HttpField f : fields) {
            map.computeIfAbsent(f.getName(), k -> new ArrayList<>(1)).add(f.getValue());
        }
        try {
            return HttpHeaders.of(map, (name, value) -> true);
        } catch (IllegalArgumentException sameNameInAnotherCase) {
            Map<String, List<String>> merged = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
            for (HttpField f : fields) {
                merged.computeIfAbsent(f.getName(), k -> new ArrayList<>(1)).add(f.getValue());
            }
            return HttpHeaders.of(merged, (name, value) -> true);
        }
    }

    static Throwable translate(Throwable failure) {
        if (failure instanceof UpstreamFailure || failure instanceof CancellationException) {
            return failure;
        }
        if (failure instanceof HeadersTimeout h) {
            // Only a request sent whole reached the upstream (which bills it); one still connecting did not.
            return h.requestSent
                    ? UpstreamFailure.noAnswerInTime(failure)
                    : new UpstreamFailure(UpstreamFailure.Kind.TIMEOUT, "no response headers in time", failure);
        }
        if (failure instanceof SocketTimeoutException) {
            return new UpstreamFailure(UpstreamFailure.Kind.TIMEOUT, "connect timed out", failure); // Jetty's connect
        }
        if (failure instanceof TimeoutException) {
            // An idle timeout: over HTTP/2 the connection's, which Jetty ends with the streams still open on it.
            return new UpstreamFailure(UpstreamFailure.Kind.TIMEOUT, UpstreamFailure.IDLE, failure);
        }
        if (failure instanceof Error) {
            return failure;
        }
        // Refused, reset, TLS, a malformed answer: nothing usable came from the upstream.
        LOG.log(System.Logger.Level.DEBUG, () -> "upstream unreachable: " + SecretMasker.mask(failure.toString()));
        return new UpstreamFailure(
                UpstreamFailure.Kind.UNREACHABLE,
                failure instanceof IOException ? "upstream unreachable" : "upstream sent an invalid response",
                failure);
    }

    /** The Jetty client calls go through (tests: which clients share one). */
    HttpClient httpClient() {
        return client;
    }

    @Override
    public void close() {
        if (!owned) {
            return; // an application's client: the application stops it
        }
        try {
            client.stop();
        } catch (Exception e) {
            LOG.log(System.Logger.Level.DEBUG, "stopping the upstream client failed", e);
        }
    }

    /** The upstream's headers did not arrive within {@link UpstreamConfig#responseTimeout()}. */
    private static final class HeadersTimeout extends TimeoutException {
        private static final long serialVersionUID = 1L;
        /** Whether the whole request had been sent (not still connecting, nor sending its body). */
        final boolean requestSent;

        HeadersTimeout(boolean requestSent) {
            super("no response headers in time");
            this.requestSent = requestSent;
        }
    }
}
