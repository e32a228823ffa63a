package io.github.openaiproxy.testkit;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.options;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.github.tomakehurst.wiremock.WireMockServer;
import io.github.openaiproxy.core.upstream.UpstreamClient;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.core.upstream.UpstreamFailure;
import io.github.openaiproxy.core.upstream.UpstreamRequest;
import io.github.openaiproxy.core.upstream.UpstreamResponse;
import io.github.openaiproxy.testsupport.BodyReader;
import io.github.openaiproxy.testsupport.RawUpstream;
import io.github.openaiproxy.testsupport.TestSubscriber;
import io.github.openaiproxy.testsupport.WireMockUpstream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpHeaders;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The {@link UpstreamClient} compatibility kit: what every client must do as a proxy's client, over real
 * connections. Send the headers it is given and nothing of a browser's (cookies, encodings, its own agent),
 * hand redirects and challenges up untouched, pass compressed bodies through, read the body only on demand,
 * close the connection when the caller leaves, give up at the configured response timeout, report a broken body as
 * an error, and refuse an upstream whose certificate it does not trust. An implementation's test says how to make the client:
 *
 * <pre>{@code
 * class JdkUpstreamClientTest extends UpstreamClientContract {
 *     protected UpstreamClient create(UpstreamConfig config) {
 *         return UpstreamClient.jdk(config);
 *     }
 * }
 * }</pre>
 *
 * The upstreams are local: a WireMock server and a plain socket server ({@link RawUpstream}) on 127.0.0.1.
 */
public abstract class UpstreamClientContract {
    private static final Duration WAIT = Duration.ofSeconds(10);

    @RegisterExtension
    static final WireMockUpstream upstream = new WireMockUpstream();

    private UpstreamClient client;

    /**
     * The client under test for this configuration (its base URL is the local upstream's). The kit closes
     * it after each test.
     */
    protected abstract UpstreamClient create(UpstreamConfig config);

    private UpstreamClient client(URI baseUrl) {
        client = create(UpstreamConfig.defaults().withBaseUrl(baseUrl));
        return client;
    }

    @AfterEach
    protected void closeClient() {
        if (client != null) {
            client.close();
        }
    }

    private static UpstreamRequest post(URI uri, Map<String, String> headers, String body) {
        HttpHeaders h = HttpHeaders.of(
                headers.entrySet().stream()
                        .collect(java.util.stream.Collectors.toMap(Map.Entry::getKey, e -> List.of(e.getValue()))),
                (a, b) -> true);
        return new UpstreamRequest("POST", uri, h, body.getBytes(StandardCharsets.UTF_8));
    }

    private static UpstreamResponse await(CompletableFuture<UpstreamResponse> call) throws Exception {
        return call.get(WAIT.toSeconds(), TimeUnit.SECONDS);
    }

    @Test
    protected void sendsTheGivenHeadersAndOnlyWhatHttpItselfNeeds() throws Exception {
        try (RawUpstream raw = RawUpstream.start()) {
            CompletableFuture<UpstreamResponse> call = client(raw.baseUrl())
                    .send(post(
                            raw.baseUrl().resolve("/v1/chat/completions"),
                            Map.of(
                                    "Authorization", "Bearer sk-test",
                                    "Content-Type", "application/json",
                                    "Accept", "text/event-stream",
                                    "User-Agent", "openai-proxy-java"),
                            "{}"));
            try (RawUpstream.Connection c = raw.accept()) {
                c.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
                assertThat(BodyReader.read(await(call).body()).text()).isEqualTo("ok");
                List<String> lines = Arrays.asList(c.requestHead().split("\r\n"));
                assertThat(lines.get(0)).isEqualTo("POST /v1/chat/completions HTTP/1.1");
                assertThat(lines.subList(1, lines.size()).stream()
                                .map(l -> l.substring(0, l.indexOf(':')).toLowerCase(Locale.ROOT))
                                .sorted())
                        .containsExactly(
                                "accept", "authorization", "content-length", "content-type", "host", "user-agent");
                assertThat(lines).contains("Content-Length: 2", "User-Agent: openai-proxy-java");
            }
        }
    }

    @Test
    protected void anEmptyPostStillSaysItsLength() throws Exception {
        try (RawUpstream raw = RawUpstream.start()) {
            CompletableFuture<UpstreamResponse> call = client(raw.baseUrl())
                    .send(post(raw.baseUrl().resolve("/v1/threads"), Map.of("Authorization", "Bearer sk-test"), ""));
            try (RawUpstream.Connection c = raw.accept()) {
                c.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
                assertThat(await(call).status()).isEqualTo(200);
                assertThat(c.requestHead().toLowerCase(Locale.ROOT)).contains("\r\ncontent-length: 0\r\n");
                assertThat(c.requestHead().toLowerCase(Locale.ROOT)).doesNotContain("content-type");
            }
        }
    }

    @Test
    protected void cookiesTheUpstreamSetsAreNeverSentBack() throws Exception {
        upstream.server()
                .stubFor(any(anyUrl())
                        .willReturn(aResponse().withStatus(200).withHeader("Set-Cookie", "__cf_bm=abc; Path=/")));
        UpstreamClient c = client(upstream.baseUrl());
        URI uri = upstream.baseUrl().resolve("/v1/models");
        for (int i = 0; i < 2; i++) {
            UpstreamResponse r = await(c.send(post(uri, Map.of("Authorization", "Bearer sk-test"), "{}")));
            assertThat(r.headers().allValues("set-cookie")).containsExactly("__cf_bm=abc; Path=/");
            BodyReader.read(r.body());
        }
        assertThat(upstream.server().findAll(anyRequestedFor(anyUrl())))
                .hasSize(2)
                .allSatisfy(request -> {
                    assertThat(request.containsHeader("Cookie")).isFalse();
                    assertThat(request.containsHeader("Accept-Encoding")).isFalse();
                });
    }

    @Test
    protected void aCompressedAnswerComesUpAsItsBytesWithItsEncoding() throws Exception {
        byte[] gzipped = gzip("{\"object\":\"list\",\"data\":[]}");
        upstream.server()
                .stubFor(any(anyUrl())
                        .willReturn(aResponse()
                                .withStatus(200)
                                .withHeader("Content-Type", "application/json")
                                .withHeader("Content-Encoding", "gzip")
                                .withBody(gzipped)));
        UpstreamResponse r = await(client(upstream.baseUrl())
                .send(post(upstream.baseUrl().resolve("/v1/files"), Map.of("Authorization", "Bearer sk-test"), "{}")));
        assertThat(r.headers().firstValue("content-encoding")).contains("gzip");
        assertThat(BodyReader.read(r.body()).bytes()).isEqualTo(gzipped);
    }

    @Test
    protected void redirectsAndAuthenticationChallengesAreHandedUpUnfollowed() throws Exception {
        upstream.server()
                .stubFor(any(anyUrl())
                        .atPriority(1)
                        .withHeader("X-Case", com.github.tomakehurst.wiremock.client.WireMock.equalTo("redirect"))
                        .willReturn(aResponse().withStatus(302).withHeader("Location", "/elsewhere")));
        upstream.server()
                .stubFor(any(anyUrl())
                        .atPriority(2)
                        .willReturn(aResponse()
                                .withStatus(401)
                                .withHeader("WWW-Authenticate", "Bearer realm=\"OpenAI\"")
                                .withBody("{\"error\":{\"code\":\"invalid_api_key\"}}")));
        UpstreamClient c = client(upstream.baseUrl());
        URI uri = upstream.baseUrl().resolve("/v1/models");

        UpstreamResponse redirect =
                await(c.send(post(uri, Map.of("Authorization", "Bearer sk-test", "X-Case", "redirect"), "{}")));
        assertThat(redirect.status()).isEqualTo(302);
        assertThat(redirect.headers().firstValue("location")).contains("/elsewhere");
        BodyReader.read(redirect.body());

        UpstreamResponse challenge = await(c.send(post(uri, Map.of("Authorization", "Bearer sk-bad"), "{}")));
        assertThat(challenge.status()).isEqualTo(401);
        assertThat(challenge.headers().firstValue("www-authenticate")).contains("Bearer realm=\"OpenAI\"");
        assertThat(BodyReader.read(challenge.body()).text()).isEqualTo("{\"error\":{\"code\":\"invalid_api_key\"}}");
        assertThat(upstream.server().findAll(anyRequestedFor(anyUrl()))).hasSize(2);
    }

    @Test
    protected void repeatedResponseHeadersKeepEveryValue() throws Exception {
        try (RawUpstream raw = RawUpstream.start()) {
            CompletableFuture<UpstreamResponse> call = client(raw.baseUrl())
                    .send(post(raw.baseUrl().resolve("/v1/models"), Map.of("Authorization", "Bearer sk-test"), "{}"));
            try (RawUpstream.Connection c = raw.accept()) {
                c.write("HTTP/1.1 200 OK\r\nX-Multi: one\r\nx-multi: two\r\nContent-Length: 0\r\n\r\n");
                assertThat(await(call).headers().allValues("X-MULTI")).containsExactly("one", "two");
            }
        }
    }

    @Test
    protected void theBodyIsReadOnlyAsFastAsItIsAskedFor() throws Exception {
        try (RawUpstream raw = RawUpstream.start()) {
            CompletableFuture<UpstreamResponse> call = client(raw.baseUrl())
                    .send(post(
                            raw.baseUrl().resolve("/v1/chat/completions"),
                            Map.of("Accept", "text/event-stream"),
                            "{}"));
            try (RawUpstream.Connection c = raw.accept()) {
                c.write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n");
                c.writeChunk("data: 1\n\n");
                TestSubscriber s = new TestSubscriber(0);
                await(call).body().subscribe(s);
                s.request(1);
                s.awaitItems(1, WAIT);

                c.writeChunk("data: 2\n\n");
                Thread.sleep(300);
                assertThat(s.items()).hasSize(1); // nothing without demand

                s.request(1);
                s.awaitItems(2, WAIT);
                c.write("0\r\n\r\n");
                s.request(Long.MAX_VALUE);
                s.terminated().get(WAIT.toSeconds(), TimeUnit.SECONDS);
                assertThat(String.join("", s.texts())).isEqualTo("data: 1\n\ndata: 2\n\n");
                assertThat(s.isCompleted()).isTrue();
                assertThat(s.demandViolations()).isZero();
            }
        }
    }

    @Test
    protected void cancellingTheBodyClosesTheConnection() throws Exception {
        try (RawUpstream raw = RawUpstream.start()) {
            CompletableFuture<UpstreamResponse> call = client(raw.baseUrl())
                    .send(post(
                            raw.baseUrl().resolve("/v1/chat/completions"),
                            Map.of("Accept", "text/event-stream"),
                            "{}"));
            try (RawUpstream.Connection c = raw.accept()) {
                c.write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n");
                c.writeChunk("data: 1\n\n");
                TestSubscriber s = new TestSubscriber(1);
                await(call).body().subscribe(s);
                s.awaitItems(1, WAIT);
                s.cancel();
                assertThat(c.closedByPeerWithin(WAIT)).isTrue();
            }
        }
    }

    @Test
    protected void cancellingTheCallBeforeTheHeadersClosesTheConnection() throws Exception {
        try (RawUpstream raw = RawUpstream.start()) {
            CompletableFuture<UpstreamResponse> call =
                    client(raw.baseUrl()).send(post(raw.baseUrl().resolve("/v1/chat/completions"), Map.of(), "{}"));
            try (RawUpstream.Connection c = raw.accept()) {
                call.cancel(true);
                assertThat(c.closedByPeerWithin(WAIT)).isTrue();
            }
        }
    }

    @Test
    protected void anUpstreamSilentPastTheResponseTimeoutFailsTheCallAsATimeout() throws Exception {
        // The engine sets no deadline of its own: a client that never gives up holds its caller for ever.
        try (RawUpstream raw = RawUpstream.start()) {
            client = create(
                    UpstreamConfig.defaults().withBaseUrl(raw.baseUrl()).withResponseTimeout(Duration.ofMillis(500)));
            CompletableFuture<UpstreamResponse> call =
                    client.send(post(raw.baseUrl().resolve("/v1/chat/completions"), Map.of(), "{}"));
            try (RawUpstream.Connection c = raw.accept()) {
                c.requestHead(); // read the request, then answer nothing
                assertThatThrownBy(() -> await(call))
                        .isInstanceOf(ExecutionException.class)
                        .cause()
                        .isInstanceOfSatisfying(
                                UpstreamFailure.class,
                                f -> assertThat(f.kind()).isEqualTo(UpstreamFailure.Kind.TIMEOUT));
                assertThat(c.closedByPeerWithin(WAIT)).isTrue();
            }
        }
    }

    @Test
    protected void aBodyBrokenOffEndsInAnError() throws Exception {
        try (RawUpstream raw = RawUpstream.start()) {
            CompletableFuture<UpstreamResponse> call =
                    client(raw.baseUrl()).send(post(raw.baseUrl().resolve("/v1/chat/completions"), Map.of(), "{}"));
            UpstreamResponse r;
            try (RawUpstream.Connection c = raw.accept()) {
                c.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"partial\":");
                r = await(call);
            }
            TestSubscriber s = new TestSubscriber(Long.MAX_VALUE);
            r.body().subscribe(s);
            s.terminated().handle((v, e) -> null).get(WAIT.toSeconds(), TimeUnit.SECONDS);
            assertThat(s.error()).isNotNull();
            assertThat(s.isCompleted()).isFalse();
        }
    }

    @Test
    protected void anUpstreamWhoseCertificateIsNotTrustedIsNeverSentTheKey() throws Exception {
        // WireMock's https port presents a self-signed certificate: the call must fail before any request.
        WireMockServer tls = new WireMockServer(options().dynamicPort().dynamicHttpsPort());
        tls.start();
        try {
            URI base = URI.create("https://localhost:" + tls.httpsPort());
            CompletableFuture<UpstreamResponse> call = client(base)
                    .send(post(base.resolve("/v1/models"), Map.of("Authorization", "Bearer sk-secret"), "{}"));
            assertThatThrownBy(() -> await(call))
                    .isInstanceOf(ExecutionException.class)
                    .cause()
                    .isInstanceOfSatisfying(
                            UpstreamFailure.class,
                            f -> assertThat(f.kind()).isEqualTo(UpstreamFailure.Kind.UNREACHABLE));
            assertThat(tls.findAll(anyRequestedFor(anyUrl()))).isEmpty();
        } finally {
            tls.stop();
        }
    }

    private static byte[] gzip(String text) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GZIPOutputStream z = new GZIPOutputStream(out)) {
            z.write(text.getBytes(StandardCharsets.UTF_8));
        }
        return out.toByteArray();
    }
}
