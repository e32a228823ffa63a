package io.github.openaiproxy.core.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.testsupport.RawUpstream;
import io.github.openaiproxy.testsupport.TestSubscriber;
import java.net.URI;
import java.net.http.HttpHeaders;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The Jetty client's two timeouts: pooled connections close after their idle time, while an exchange in
 * progress has none (a model may be silent for minutes between the headers and its first token); and the size
 * of the request head it will send.
 */
class JettyUpstreamClientTest {
    private static final Duration POOLED_IDLE = Duration.ofMillis(500);
    private static final Duration WAIT = Duration.ofSeconds(10);

    private static UpstreamRequest get(URI base) {
        return new UpstreamRequest(
                "GET", base.resolve("/v1/models"), HttpHeaders.of(Map.of(), (a, b) -> true), new byte[0]);
    }

    @Test
    void aStreamSilentForLongerThanThePooledIdleTimeIsNotCut() throws Exception {
        try (RawUpstream raw = RawUpstream.start();
                UpstreamClient client =
                        JettyUpstreamClient.create(UpstreamConfig.defaults().withBaseUrl(raw.baseUrl()), POOLED_IDLE)) {
            var call = client.send(get(raw.baseUrl()));
            try (RawUpstream.Connection c = raw.accept()) {
                c.write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n");
                TestSubscriber s = new TestSubscriber(Long.MAX_VALUE);
                call.get(WAIT.toSeconds(), TimeUnit.SECONDS).body().subscribe(s);
                Thread.sleep(POOLED_IDLE.multipliedBy(3).toMillis());
                c.writeChunk("data: late\n\n");
                c.write("0\r\n\r\n");
                s.terminated().get(WAIT.toSeconds(), TimeUnit.SECONDS);
                assertThat(s.error()).isNull();
                assertThat(String.join("", s.texts())).isEqualTo("data: late\n\n");
            }
        }
    }

    @Test
    void anIdlePooledConnectionIsClosedAfterItsIdleTime() throws Exception {
        try (RawUpstream raw = RawUpstream.start();
                UpstreamClient client =
                        JettyUpstreamClient.create(UpstreamConfig.defaults().withBaseUrl(raw.baseUrl()), POOLED_IDLE)) {
            var call = client.send(get(raw.baseUrl()));
            try (RawUpstream.Connection c = raw.accept()) {
                c.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
                TestSubscriber s = new TestSubscriber(Long.MAX_VALUE);
                call.get(WAIT.toSeconds(), TimeUnit.SECONDS).body().subscribe(s);
                s.terminated().get(WAIT.toSeconds(), TimeUnit.SECONDS);
                assertThat(c.closedByPeerWithin(WAIT)).isTrue();
            }
        }
    }

    /**
     * A client's request head the container admitted (8 KB on Tomcat and Jetty by default), plus the headers the
     * proxy adds (its key, a named upstream's headers), must still reach the upstream: Jetty's own 8 KB default
     * failed it before sending, and the client got 502 {@code upstream_unreachable} for its own long query.
     */
    @Test
    void aRequestHeadOverEightKilobytesIsSent() throws Exception {
        String query = "a=" + "b".repeat(9000);
        try (RawUpstream raw = RawUpstream.start();
                UpstreamClient client =
                        JettyUpstreamClient.create(UpstreamConfig.defaults().withBaseUrl(raw.baseUrl()), POOLED_IDLE)) {
            var call = client.send(new UpstreamRequest(
                    "GET",
                    raw.baseUrl().resolve("/v1/models?" + query),
                    HttpHeaders.of(
                            Map.of("Authorization", java.util.List.of("Bearer sk-" + "k".repeat(200))), (a, b) -> true),
                    new byte[0]));
            try (RawUpstream.Connection c = raw.accept()) {
                assertThat(c.requestHead()).startsWith("GET /v1/models?" + query + " HTTP/1.1");
                c.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
                assertThat(call.get(WAIT.toSeconds(), TimeUnit.SECONDS).status())
                        .isEqualTo(200);
            }
        }
    }
}
