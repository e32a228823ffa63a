package io.github.openaiproxy.core.upstream;

import io.github.openaiproxy.core.internal.Bodies;
import io.github.openaiproxy.core.internal.DaemonThreads;
import io.github.openaiproxy.core.internal.Failures;
import io.github.openaiproxy.core.keys.SecretMasker;
import java.io.IOException;
import java.net.ConnectException;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpHeaders;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Flow;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The {@link UpstreamClient} on the JDK's {@link HttpClient}, used when {@code jetty-client} is absent or
 * {@code upstream-client} is {@code jdk}: asynchronous from connect to the last body
 * byte, with demand-driven body reading ({@link HttpResponse.BodySubscribers#ofPublisher()}), so a slow
 * client slows the upstream read instead of filling memory. One selector thread serves all connections;
 * a small fixed pool runs callbacks, so the thread count does not grow with open streams.
 */
final class JdkUpstreamClient implements UpstreamClient {
    private static final System.Logger LOG = System.getLogger(JdkUpstreamClient.class.getName());
    /** Headers the JDK client sets itself and refuses from callers. */
    private static final Set<String> RESTRICTED = Set.of("connection", "content-length", "expect", "host", "upgrade");
    /** Whether the note on a too small common pool was logged (once per JVM: it is a JVM setting). */
    private static final AtomicBoolean SMALL_POOL_REPORTED = new AtomicBoolean();

    private final HttpClient client;
    /** The executor this class made, or null for an application's client (which it neither made nor closes). */
    private final ExecutorService executor;

    private final UpstreamConfig config;
    /** The application's settings of the client the proxy made, for {@link #withTimeouts}; null when given one. */
    private final java.util.function.Consumer<? super HttpClient.Builder> customizer;
    /** Whether closing this instance closes the client: not an application's, nor a view on the proxy's. */
    private final boolean owned;

    private JdkUpstreamClient(
            HttpClient client,
            ExecutorService executor,
            UpstreamConfig config,
            java.util.function.Consumer<? super HttpClient.Builder> customizer,
            boolean owned) {
        this.client = client;
        this.executor = executor;
        this.config = config;
        this.customizer = customizer;
        this.owned = owned;
    }

    @Override
    public UpstreamClient withTimeouts(java.time.Duration connectTimeout, java.time.Duration responseTimeout) {
        return withSettings(connectTimeout, responseTimeout, config.httpVersion());
    }

    /**
     * The response timeout and the version are asked for per request, so calls with other ones go through this
     * client: a view on it (its connections and threads, closing it closes nothing). Only another connect timeout,
     * the client's own, needs a new client, made like this one; an application's client keeps its connect timeout.
     */
    @Override
    public UpstreamClient withSettings(
            java.time.Duration connectTimeout,
            java.time.Duration responseTimeout,
            UpstreamConfig.HttpVersion httpVersion) {
        UpstreamConfig c = config.withConnectTimeout(connectTimeout)
                .withResponseTimeout(responseTimeout)
                .withHttpVersion(httpVersion);
        boolean made = customizer != null;
        if (made && !connectTimeout.equals(config.connectTimeout())) { // the builder's, customizer and all
            return create(c, customizer);
        }
        return new JdkUpstreamClient(client, executor, c, customizer, false);
    }

    static JdkUpstreamClient create(UpstreamConfig config) {
        return create(config, builder -> {});
    }

    /**
     * An application's own client (its TLS, proxy, authentication of the proxy hop), used as it is and
     * never closed here. Refused when it would act as a browser: following redirects or keeping cookies
     * would carry one user's exchange into another's.
     */
    static JdkUpstreamClient given(UpstreamConfig config, HttpClient client) {
        return new JdkUpstreamClient(requireProxyFit(client), null, config, null, false);
    }

    private static HttpClient requireProxyFit(HttpClient client) {
        java.util.Objects.requireNonNull(client, "client");
        if (client.followRedirects() != HttpClient.Redirect.NEVER) {
            throw new IllegalArgumentException(
                    "the upstream HttpClient must not follow redirects (HttpClient.Redirect.NEVER): the proxy hands"
                            + " them to its caller");
        }
        if (client.cookieHandler().isPresent()) {
            throw new IllegalArgumentException(
                    "the upstream HttpClient must not have a CookieHandler: cookies would pass between users");
        }
        return client;
    }

    /**
     * The client the proxy makes, with the application's settings applied after the proxy's defaults (an
     * {@code SSLContext}, a {@code ProxySelector}). Closed with this client.
     */
    static JdkUpstreamClient create(
            UpstreamConfig config, java.util.function.Consumer<? super HttpClient.Builder> customizer) {
        if (ForkJoinPool.getCommonPoolParallelism() < 2 && SMALL_POOL_REPORTED.compareAndSet(false, true)) {
            LOG.log(
                    System.Logger.Level.INFO,
                    "The common ForkJoinPool has fewer than 2 threads here, so the JDK HttpClient starts a thread"
                            + " per upstream request (CompletableFuture's default executor). Start the JVM with"
                            + " -Djava.util.concurrent.ForkJoinPool.common.parallelism=2 to avoid it.");
        }
        int threads = Math.max(2, Runtime.getRuntime().availableProcessors());
        ThreadPoolExecutor executor = new ThreadPoolExecutor(
                threads,
                threads,
                60,
                TimeUnit.SECONDS,
                new LinkedBlockingQueue<>(),
                DaemonThreads.numbered("openai-proxy-upstream-"));
        executor.allowCoreThreadTimeOut(true);
        boolean https = "https".equalsIgnoreCase(config.baseUrl().getScheme());
        HttpClient.Builder builder = HttpClient.newBuilder()
                .connectTimeout(config.connectTimeout())
                .version(https ? HttpClient.Version.HTTP_2 : HttpClient.Version.HTTP_1_1)
                .followRedirects(HttpClient.Redirect.NEVER)
                .executor(executor);
        try {
            customizer.accept(builder);
            return new JdkUpstreamClient(requireProxyFit(builder.build()), executor, config, customizer, true);
        } catch (RuntimeException e) {
            executor.shutdown();
            throw e;
        }
    }

    private static HttpRequest.BodyPublisher bodyPublisher(UpstreamRequest request) {
        UpstreamRequest.StreamedBody streamed = request.streamedBody();
        if (streamed != null) {
            // Sent as it arrives: with the client's Content-Length when it declared one, else chunked.
            return streamed.length() > 0
                    ? HttpRequest.BodyPublishers.fromPublisher(streamed.publisher(), streamed.length())
                    : HttpRequest.BodyPublishers.fromPublisher(streamed.publisher());
        }
        return request.body().length == 0 && !request.method().equals("POST")
                ? HttpRequest.BodyPublishers.noBody()
                : HttpRequest.BodyPublishers.ofByteArray(request.body());
    }

    /**
     * The version a request to {@code uri} is sent with, or null for the client's own (an application's client
     * keeps its choice over TLS). Plain http gets HTTP/1.1 unless HTTP/2 was asked for: the JDK would otherwise try
     * an h2c upgrade on every new plain connection.
     */
    static HttpClient.Version version(UpstreamConfig.HttpVersion asked, java.net.URI uri) {
        return switch (asked) {
            case HTTP_1_1 -> HttpClient.Version.HTTP_1_1;
            case HTTP_2 -> HttpClient.Version.HTTP_2;
            case AUTO -> "https".equalsIgnoreCase(uri.getScheme()) ? null : HttpClient.Version.HTTP_1_1;
        };
    }

    @Override
    public CompletableFuture<UpstreamResponse> send(UpstreamRequest request) {
        HttpRequest.Builder b = HttpRequest.newBuilder(request.uri())
                .timeout(config.responseTimeout())
                .method(request.method(), bodyPublisher(request));
        HttpClient.Version version = version(config.httpVersion(), request.uri());
        if (version != null) {
            b.version(version);
        }
        request.headers().map().forEach((name, values) -> {
            if (!RESTRICTED.contains(name.toLowerCase(Locale.ROOT))) {
                values.forEach(v -> b.header(name, v));
            }
        });
        CompletableFuture<UpstreamResponse> result = new CompletableFuture<>();
        // The answer is handed over from the body handler, on the client's own thread, as soon as the body
        // can be subscribed. The future of sendAsync completes only after a hop through CompletableFuture's
        // default executor: a thread handoff on every request, and a new thread for every request where the
        // common pool has fewer than two threads (two CPUs or less).
        HttpResponse.BodyHandler<Flow.Publisher<List<ByteBuffer>>> handler = info -> {
            if (framedTwice(info.headers())) {
                // RFC 9112 6.3: a sign of response splitting. The JDK's client reads such a body by its length, and
                // would hand the rest of the chunks to the next call on the connection as its answer: refused, and
                // the body cancelled so that the connection is closed, not pooled (as Jetty's client does).
                LOG.log(
                        System.Logger.Level.WARNING,
                        "upstream answer framed by both Transfer-Encoding and Content-Length");
                result.completeExceptionally(new UpstreamFailure(
                        UpstreamFailure.Kind.UNREACHABLE,
                        "upstream answer framed by both Transfer-Encoding and Content-Length",
                        null,
                        true)); // it answered: it had the request, and bills it
                return new Refused();
            }
            HttpResponse.BodySubscriber<Flow.Publisher<List<ByteBuffer>>> body =
                    HttpResponse.BodySubscribers.ofPublisher();
            body.getBody().thenAccept(publisher -> deliver(result, info.statusCode(), info.headers(), publisher));
            return body;
        };
        CompletableFuture<HttpResponse<Flow.Publisher<List<ByteBuffer>>>> exchange =
                client.sendAsync(b.build(), handler);
        exchange.whenComplete((response, error) -> {
            if (error != null) {
                result.completeExceptionally(translate(error));
            } else if (!result.isDone()) {
                deliver(result, response.statusCode(), response.headers(), response.body());
            }
        });
        result.whenComplete((r, e) -> {
            if (result.isCancelled()) {
                exchange.cancel(true);
            }
        });
        return result;
    }

    private static boolean framedTwice(HttpHeaders headers) {
        // The map's look-up is case-insensitive; firstValue would make an Optional and a stream per answer.
        return headers.map().containsKey("transfer-encoding") && headers.map().containsKey("content-length");
    }

    /** Takes no byte of a refused answer's body: cancelled at once, its connection is closed, never reused. */
    private static final class Refused implements HttpResponse.BodySubscriber<Flow.Publisher<List<ByteBuffer>>> {
        private final CompletableFuture<Flow.Publisher<List<ByteBuffer>>> body = new CompletableFuture<>();

        @Override
        public CompletionStage<Flow.Publisher<List<ByteBuffer>>> getBody() {
            return body;
        }

        @Override
        public void onSubscribe(Flow.Subscription subscription) {
            subscription.cancel();
            body.completeExceptionally(new IOException("answer refused"));
        }

        @Override
        public void onNext(List<ByteBuffer> item) {}

        @Override
        public void onError(Throwable error) {
            body.completeExceptionally(error);
        }

        @Override
        public void onComplete() {
            body.completeExceptionally(new IOException("answer refused"));
        }
    }

    private static void deliver(
            CompletableFuture<UpstreamResponse> result,
            int status,
            HttpHeaders headers,
            Flow.Publisher<List<ByteBuffer>> body) {
        if (!result.complete(new UpstreamResponse(status, headers, body)) && result.isCancelled()) {
            // The caller gave up while the headers were on their way: release the connection.
            Bodies.discard(body);
        }
    }

    private static Throwable translate(Throwable error) {
        Throwable t = Failures.unwrap(error);
        if (t instanceof HttpConnectTimeoutException) {
            return new UpstreamFailure(UpstreamFailure.Kind.TIMEOUT, "connect timed out", t);
        }
        if (t instanceof HttpTimeoutException) {
            return UpstreamFailure.noAnswerInTime(t);
        }
        if (t instanceof ConnectException || t instanceof IOException) {
            // The message may quote the upstream's bytes (a malformed header): masked like any upstream text.
            LOG.log(System.Logger.Level.DEBUG, () -> "upstream unreachable: " + SecretMasker.mask(t.toString()));
            return new UpstreamFailure(UpstreamFailure.Kind.UNREACHABLE, "upstream unreachable", t);
        }
        return t;
    }

    /** The JDK client calls go through (tests: which clients share one). */
    HttpClient httpClient() {
        return client;
    }

    /** Whether the executor this class made still runs (tests); false for an application's client. */
    boolean executorRunning() {
        return executor != null && !executor.isShutdown();
    }

    @Override
    public void close() {
        if (!owned) {
            return; // an application's client (the application closes it), or a view on the proxy's
        }
        executor.shutdown();
        if (client instanceof AutoCloseable closeable) { // Java 21+
            try {
                closeable.close();
            } catch (Exception e) {
                LOG.log(System.Logger.Level.DEBUG, "closing HttpClient failed", e);
            }
        }
    }
}
