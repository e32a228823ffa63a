package io.github.openaiproxy.core.upstream;

import io.github.openaiproxy.core.internal.ClassPath;
import java.time.Duration;
import java.util.List;
import org.eclipse.jetty.client.Connection;
import org.eclipse.jetty.client.ConnectionPool;
import org.eclipse.jetty.client.HttpClientTransport;
import org.eclipse.jetty.client.MultiplexConnectionPool;
import org.eclipse.jetty.client.transport.HttpClientConnectionFactory;
import org.eclipse.jetty.client.transport.HttpClientTransportDynamic;
import org.eclipse.jetty.http2.client.HTTP2Client;
import org.eclipse.jetty.http2.client.transport.ClientConnectionFactoryOverHTTP2;
import org.eclipse.jetty.io.ClientConnector;
import org.eclipse.jetty.util.ConcurrentPool;
import org.eclipse.jetty.util.Pool;

/**
 * Jetty's transport for {@link UpstreamConfig.HttpVersion#HTTP_2}: HTTP/2 preferred, HTTP/1.1 where a TLS server
 * offers only that. A class of its own so that {@link JettyUpstreamClient} links without the optional HTTP/2 jars.
 */
final class JettyHttp2 {
    private static final boolean TRANSPORT =
            ClassPath.has("org.eclipse.jetty.http2.client.transport.ClientConnectionFactoryOverHTTP2");
    /** Jetty's ALPN on the JDK's TLS: without it a TLS connection could not ask for h2. */
    private static final boolean ALPN = ClassPath.has("org.eclipse.jetty.alpn.java.client.JDK9ClientALPNProcessor");

    /**
     * What one stream may hold of an answer its client has not read yet: Jetty gives the window back as the relay
     * consumes. HTTP/1.1 leaves such bytes in the kernel's socket buffer; over HTTP/2 they are on the heap, so they
     * are bounded here (1 MiB moves 20 MB/s per stream at 50 ms round trips).
     */
    static final int STREAM_WINDOW = 1024 * 1024;

    /**
     * What all the streams of a connection may hold unread together: HTTP/2's largest window, so that it never binds
     * before the streams' own. A connection carries many clients' calls; with Jetty's 16 MiB, sixteen streams whose
     * clients read nothing filled it and every other stream on the connection stopped. The heap is bounded by the
     * streams' windows, {@link #STREAM_WINDOW} each.
     */
    static final int CONNECTION_WINDOW = Integer.MAX_VALUE;

    /**
     * How many calls a connection that is still being opened is counted for. Jetty's own 1 opens a connection per
     * call that arrives meanwhile: a burst of a thousand streams at start, or while a TLS handshake is under way,
     * opened a thousand connections (in the benchmark, 4,900 for 10,000 streams). 100 is the least that HTTP/2
     * recommends a server allow (RFC 9113, 6.5.2); a connection that turns out to allow fewer sends the rest on.
     */
    static final int STREAMS_PER_NEW_CONNECTION = 100;

    private JettyHttp2() {}

    /**
     * How long an HTTP/2 connection may stay silent before it is closed. Jetty closes a silent HTTP/2 connection
     * with the streams still open on it (a request's own idle timeout is its stream's, not the connection's), so
     * the pooled idle time alone would cut a model thinking longer than it. A call silent for longer than the
     * proxy's own waits (for the headers, for a stream's next event) is ended by the proxy anyway, so the connection
     * waits for the longest of them; an unused connection then stays open that long, unless the server closes it.
     */
    static Duration connectionIdle(Duration pooledIdle, UpstreamConfig config) {
        Duration longest = pooledIdle;
        for (Duration wait : List.of(config.responseTimeout(), config.streamIdleTimeout())) {
            if (wait.compareTo(longest) > 0) {
                longest = wait;
            }
        }
        return longest;
    }

    /**
     * The transport, or an {@link IllegalStateException} naming the jar that is missing (and not the setting: the
     * global {@code upstream-http-version} and a named upstream's {@code http-version} both come here; the engine
     * names a named upstream's). ALPN is required even for a
     * plain http base URL: the one client also calls the named upstreams, and any of them may be https.
     */
    static HttpClientTransport transport() {
        if (!TRANSPORT) {
            throw new IllegalStateException("http-version 2 needs"
                    + " org.eclipse.jetty.http2:jetty-http2-client-transport, which is not on the class path");
        }
        if (!ALPN) {
            throw new IllegalStateException("http-version 2 needs org.eclipse.jetty:jetty-alpn-java-client"
                    + " (ALPN, to ask an https upstream for h2), which is not on the class path");
        }
        ClientConnector connector = new ClientConnector();
        HTTP2Client http2 = new HTTP2Client(connector);
        http2.setInitialStreamRecvWindow(STREAM_WINDOW);
        http2.setInitialSessionRecvWindow(CONNECTION_WINDOW);
        http2.setMaxConcurrentPushedStreams(0);
        // Listed first, h2 is what a plain http upstream gets (prior knowledge) and what ALPN asks a TLS one for.
        HttpClientTransportDynamic transport = new HttpClientTransportDynamic(
                connector, new ClientConnectionFactoryOverHTTP2.HTTP2(http2), HttpClientConnectionFactory.HTTP11);
        transport.setConnectionPoolFactory(destination -> {
            int max = destination.getHttpClient().getMaxConnectionsPerDestination();
            Pool.Factory<Connection> pool =
                    () -> new ConcurrentPool<>(ConcurrentPool.StrategyType.FIRST, max, JettyHttp2::callsAtOnce);
            return new MultiplexConnectionPool(destination, pool, STREAMS_PER_NEW_CONNECTION) {};
        });
        return transport;
    }

    /**
     * How many calls a pooled connection carries at once. An HTTP/2 connection says (the server's
     * SETTINGS_MAX_CONCURRENT_STREAMS); an HTTP/1.1 one, which ALPN chose where a TLS server offers nothing else,
     * says nothing, and Jetty's pool would then count it for {@link #STREAMS_PER_NEW_CONNECTION} calls, sending a
     * second call down a connection still busy with the first (Jetty refuses: "Pipelined requests not supported").
     */
    static int callsAtOnce(Connection connection) {
        if (connection instanceof ConnectionPool.MaxMultiplexable multiplexed) {
            return multiplexed.getMaxMultiplex();
        }
        return connection == null ? STREAMS_PER_NEW_CONNECTION : 1;
    }
}
