package io.github.openaiproxy.testsupport;

import java.io.IOException;
import java.io.OutputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.alpn.server.ALPNServerConnectionFactory;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http2.server.HTTP2CServerConnectionFactory;
import org.eclipse.jetty.http2.server.HTTP2ServerConnectionFactory;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.ConnectionFactory;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.SecureRequestCustomizer;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.SslConnectionFactory;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.ssl.SslContextFactory;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * An upstream that speaks only HTTP/2 without TLS (h2c, prior knowledge), or, started with {@link #tls}, HTTPS with
 * ALPN, on Jetty, for the upstream client's {@code upstream-http-version=2}. It answers OpenAI's shapes and records what it was sent:
 *
 * <ul>
 *   <li>a request whose body has {@code "stream":true}: {@code ?events=N} {@code chat.completion.chunk} events
 *       (default 3) and {@code [DONE]}, each flushed, {@code ?pause_ms=P} apart; with {@code ?gate=true} the second
 *       event waits for {@link #openGate()};
 *   <li>with {@code ?goaway=graceful} as well: a GOAWAY without an error after the first event, naming this stream
 *       the last, which then goes on to its {@code [DONE]};
 *   <li>with {@code ?break=reset|goaway|drop} as well: the N events and half an event, then (once the gate is open,
 *       with {@code ?gate=true}) no {@code [DONE]}: the stream reset, a GOAWAY, or the connection dropped;
 *   <li>{@code ?bytes=N}: a JSON body of N bytes;
 *   <li>anything else: a {@code chat.completion}.
 * </ul>
 */
public final class H2cUpstream implements AutoCloseable {
    /** One request as the upstream saw it. */
    public record Seen(String protocol, String connection, String path, Map<String, String> headers, String body) {}

    private final Server server;
    private final ServerConnector connector;
    private final List<Seen> seen = new CopyOnWriteArrayList<>();
    private final List<String> brokenStreams = new CopyOnWriteArrayList<>();
    private final CountDownLatch gate = new CountDownLatch(1);
    private final java.util.concurrent.atomic.AtomicLong bodyBytesWritten =
            new java.util.concurrent.atomic.AtomicLong();

    /** Plain h2c, or {@code https} with the key of {@code tls}. */
    private final boolean secure;

    private H2cUpstream(int maxStreams, Tls tls) throws Exception {
        QueuedThreadPool threads = new QueuedThreadPool(200, 4);
        threads.setName("h2c-upstream");
        threads.setDaemon(true);
        server = new Server(threads);
        secure = tls != null;
        if (tls == null) {
            HTTP2CServerConnectionFactory h2c = new HTTP2CServerConnectionFactory(new HttpConfiguration());
            h2c.setMaxConcurrentStreams(maxStreams);
            connector = new ServerConnector(server, h2c);
        } else {
            connector = new ServerConnector(server, tlsFactories(maxStreams, tls));
        }
        connector.setHost("127.0.0.1");
        connector.setPort(0);
        server.addConnector(connector);
        server.setHandler(new Handler.Abstract() {
            @Override
            public boolean handle(Request request, Response response, Callback callback) throws Exception {
                try {
                    answer(request, response);
                    callback.succeeded();
                } catch (Break reset) {
                    callback.failed(reset); // after the head: Jetty resets the stream (RST_STREAM)
                }
                return true;
            }
        });
        server.start();
    }

    /**
     * The TLS of {@link #tls}: the server's key store (PKCS12, its certificate valid for {@code 127.0.0.1}) and
     * whether ALPN offers {@code h2} besides {@code http/1.1}.
     */
    public record Tls(Path keyStore, String password, boolean offerH2) {}

    /** Starts one on a free port of 127.0.0.1, allowing 128 streams a connection (Jetty's default). */
    public static H2cUpstream start() throws Exception {
        return new H2cUpstream(128, null);
    }

    /** Starts one that allows {@code maxStreams} streams a connection. */
    public static H2cUpstream start(int maxStreams) throws Exception {
        return new H2cUpstream(maxStreams, null);
    }

    /**
     * Starts one on {@code https://127.0.0.1}: ALPN offers {@code h2} first and {@code http/1.1}, or only
     * {@code http/1.1}, answering the same either way.
     */
    public static H2cUpstream tls(Tls tls) throws Exception {
        return new H2cUpstream(128, tls);
    }

    private static ConnectionFactory[] tlsFactories(int maxStreams, Tls tls) {
        SslContextFactory.Server ssl = new SslContextFactory.Server();
        ssl.setKeyStorePath(tls.keyStore().toString());
        ssl.setKeyStorePassword(tls.password());
        ssl.setKeyStoreType("PKCS12");
        HttpConfiguration config = new HttpConfiguration();
        SecureRequestCustomizer secure = new SecureRequestCustomizer();
        secure.setSniHostCheck(false); // the certificate names an address, not a host
        config.addCustomizer(secure);
        HttpConnectionFactory http11 = new HttpConnectionFactory(config);
        List<ConnectionFactory> offered = new ArrayList<>();
        if (tls.offerH2()) {
            HTTP2ServerConnectionFactory h2 = new HTTP2ServerConnectionFactory(config);
            h2.setMaxConcurrentStreams(maxStreams);
            offered.add(h2);
        }
        offered.add(http11);
        // ALPN's names: HttpConnectionFactory's own protocol is "HTTP/1.1", which no client asks for.
        ALPNServerConnectionFactory alpn = new ALPNServerConnectionFactory(
                tls.offerH2() ? new String[] {"h2", "http/1.1"} : new String[] {"http/1.1"});
        alpn.setDefaultProtocol(http11.getProtocol());
        List<ConnectionFactory> all = new ArrayList<>();
        all.add(new SslConnectionFactory(ssl, alpn.getProtocol()));
        all.add(alpn);
        all.addAll(offered);
        return all.toArray(ConnectionFactory[]::new);
    }

    /** {@code http://127.0.0.1:<port>}, or {@code https://} for {@link #tls}. */
    public URI baseUrl() {
        return URI.create((secure ? "https" : "http") + "://127.0.0.1:" + connector.getLocalPort());
    }

    /** The requests answered or being answered, in order of arrival. */
    public List<Seen> seen() {
        return List.copyOf(seen);
    }

    /** The paths of the streams whose writes failed: the client reset them. */
    public List<String> brokenStreams() {
        return List.copyOf(brokenStreams);
    }

    /** The bytes of {@code ?bytes=N} bodies written so far, each counted once the client's window let it go. */
    public long bodyBytesWritten() {
        return bodyBytesWritten.get();
    }

    /** Lets every gated stream send its second event. */
    public void openGate() {
        gate.countDown();
    }

    private void answer(Request request, Response response) throws Exception {
        String body = Content.Source.asString(request, StandardCharsets.UTF_8);
        Map<String, String> headers = new ConcurrentHashMap<>();
        request.getHeaders().forEach(f -> headers.put(f.getLowerCaseName(), f.getValue()));
        Map<String, String> params = new java.util.HashMap<>();
        Request.extractQueryParameters(request).forEach(f -> params.put(f.getName(), f.getValue()));
        seen.add(new Seen(
                request.getConnectionMetaData().getHttpVersion().asString(),
                request.getConnectionMetaData().getId(),
                request.getHttpURI().getPath(),
                Map.copyOf(headers),
                body));
        if (body.replace(" ", "").contains("\"stream\":true")) {
            stream(request, response, params);
        } else if (params.containsKey("bytes")) {
            int n = Integer.parseInt(params.get("bytes"));
            byte[] payload = new byte[n];
            java.util.Arrays.fill(payload, (byte) 'a');
            if (n >= 2) {
                payload[0] = '"';
                payload[n - 1] = '"';
            }
            response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
            try (OutputStream out = Content.Sink.asOutputStream(response)) {
                for (int at = 0; at < n; at += 16 * 1024) {
                    int len = Math.min(16 * 1024, n - at);
                    out.write(payload, at, len);
                    out.flush(); // blocks while the client's flow-control window is shut
                    bodyBytesWritten.addAndGet(len);
                }
            }
        } else {
            response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
            response.getHeaders().put("x-request-id", "req_h2c");
            try (OutputStream out = Content.Sink.asOutputStream(response)) {
                out.write(COMPLETION.getBytes(StandardCharsets.UTF_8));
            }
        }
    }

    /** The stream is to be reset: thrown out of {@link #answer}. */
    private static final class Break extends Exception {
        private static final long serialVersionUID = 1L;

        Break() {
            super("the upstream breaks the stream off", null, false, false);
        }
    }

    /**
     * Ends a stream without its {@code [DONE]}, as {@code ?break=} asks: {@code reset} its stream alone
     * (RST_STREAM), {@code goaway} the connection (GOAWAY with an error, then closed), or {@code drop} the
     * connection's socket without a word.
     */
    private static void breakOff(Request request, String how) throws Break {
        org.eclipse.jetty.io.Connection connection =
                request.getConnectionMetaData().getConnection();
        switch (how) {
            case "reset" -> throw new Break();
            case "goaway" ->
                ((org.eclipse.jetty.http2.HTTP2Connection) connection)
                        .getSession()
                        // Jetty would keep the connection for the streams the GOAWAY lets finish: closed once written.
                        .close(
                                org.eclipse.jetty.http2.ErrorCode.INTERNAL_ERROR.code,
                                "going away",
                                Callback.from(() -> connection.getEndPoint().close()));
            case "drop" -> connection.getEndPoint().close();
            default -> throw new IllegalArgumentException("break=" + how);
        }
        // Not succeeded either: that would end the stream properly (END_STREAM) while the GOAWAY's connection lasts.
        for (int i = 0; i < 500 && connection.getEndPoint().isOpen(); i++) {
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        throw new Break();
    }

    private void stream(Request request, Response response, Map<String, String> params) throws Exception {
        int events = Integer.parseInt(params.getOrDefault("events", "3"));
        long pause = Long.parseLong(params.getOrDefault("pause_ms", "0"));
        boolean gated = Boolean.parseBoolean(params.getOrDefault("gate", "false"));
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "text/event-stream");
        response.getHeaders().put("x-request-id", "req_h2c");
        if (params.containsKey("break")) {
            // Not closed: closing the output would end the stream properly.
            OutputStream out = Content.Sink.asOutputStream(response);
            for (int i = 0; i < events; i++) {
                out.write(chunk(i).getBytes(StandardCharsets.UTF_8));
                out.flush();
            }
            out.write("data: {\"id\":\"chatcmpl-h2c".getBytes(StandardCharsets.UTF_8)); // half an event
            out.flush();
            if (gated && !gate.await(30, TimeUnit.SECONDS)) {
                throw new IOException("the gate was not opened");
            }
            breakOff(request, params.get("break"));
            return;
        }
        try (OutputStream out = Content.Sink.asOutputStream(response)) {
            for (int i = 0; i < events; i++) {
                if (i == 1 && gated && !gate.await(30, TimeUnit.SECONDS)) {
                    throw new IOException("the gate was not opened");
                }
                out.write(chunk(i).getBytes(StandardCharsets.UTF_8));
                out.flush();
                if (i == 0 && params.containsKey("goaway")) {
                    goAwayGracefully(request);
                }
                if (pause > 0) {
                    Thread.sleep(pause);
                }
            }
            out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            brokenStreams.add(request.getHttpURI().getPathQuery());
        }
    }

    /**
     * Sends a GOAWAY without an error whose last stream is this one: this stream goes on to its end, the connection
     * takes no new ones and is closed once its streams are done.
     */
    private static void goAwayGracefully(Request request) {
        ((org.eclipse.jetty.http2.HTTP2Connection)
                        request.getConnectionMetaData().getConnection())
                .getSession()
                .close(org.eclipse.jetty.http2.ErrorCode.NO_ERROR.code, "graceful", Callback.NOOP);
    }

    /** The {@code i}th chunk event of a stream, as this upstream writes it. */
    public static String chunk(int i) {
        return "data: {\"id\":\"chatcmpl-h2c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\","
                + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"t" + i + "\"},\"finish_reason\":null}]}\n\n";
    }

    /** The completion this upstream answers a non-streamed request with. */
    public static final String COMPLETION = "{\"id\":\"chatcmpl-h2c\",\"object\":\"chat.completion\",\"created\":1,"
            + "\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":"
            + "\"over h2c\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,"
            + "\"total_tokens\":7}}";

    @Override
    public void close() throws Exception {
        server.stop();
    }
}
