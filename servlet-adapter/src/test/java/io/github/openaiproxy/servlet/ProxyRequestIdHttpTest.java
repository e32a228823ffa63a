package io.github.openaiproxy.servlet;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.RequestStep;
import io.github.openaiproxy.core.testing.Upstream;
import io.github.openaiproxy.servlet.support.Http;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Every answer the proxy makes itself carries an {@code x-request-id} of its own, random and never the client's,
 * named by the proxy's log line for it; an upstream's answer keeps the upstream's id untouched.
 */
class ProxyRequestIdHttpTest {
    @RegisterExtension
    static WireMockExtension upstream = Upstream.extension();

    static final String CHAT = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    static final String ID = "req_proxy_[0-9a-f]{32}";

    @Test
    void theProxysOwnErrorsCarryARandomIdOfTheirOwnNeverTheClients() {
        ProxyEngine engine = ProxyEngine.builder(
                        Upstream.config(upstream).maxBodySize(64).build())
                .build();
        Set<String> ids = new HashSet<>();
        try (TomcatProxy proxy = TomcatProxy.servlet(engine)) {
            List<HttpResponse<String>> answers = List.of(
                    send(proxy, "/no/such/route", CHAT, "application/json"), // 404
                    send(proxy, "/v1/chat/completions", CHAT.repeat(10), "application/json"), // 413
                    send(proxy, "/", CHAT, "text/plain"), // 415
                    send(proxy, "/", "{not json", "application/json")); // 400
            assertThat(answers).extracting(HttpResponse::statusCode).containsExactly(404, 413, 415, 400);
            for (HttpResponse<String> r : answers) {
                assertThat(r.headers().allValues("x-request-id"))
                        .singleElement()
                        .asString()
                        .matches(ID);
                ids.add(r.headers().firstValue("x-request-id").orElseThrow());
            }
        }
        assertThat(ids).hasSize(4);
        Upstream.assertNoCalls(upstream);
    }

    @Test
    void aFailuresLogLineNamesTheIdItsAnswerCarries() {
        ProxyEngine engine = ProxyEngine.builder(Upstream.config(upstream).build())
                .step(RequestStep.Position.BEFORE_UPSTREAM, (context, next) -> {
                    throw new IllegalStateException("a bug in the host's step");
                })
                .build();
        List<String> logged = new CopyOnWriteArrayList<>();
        Handler handler = new Handler() {
            @Override
            public void publish(LogRecord r) {
                logged.add(new java.util.logging.SimpleFormatter().formatMessage(r));
            }

            @Override
            public void flush() {}

            @Override
            public void close() {}
        };
        Logger proxyLogs = Logger.getLogger("io.github.openaiproxy");
        proxyLogs.addHandler(handler);
        try (TomcatProxy proxy = TomcatProxy.servlet(engine)) {
            HttpResponse<String> r = send(proxy, "/v1/chat/completions", CHAT, "application/json");
            assertThat(r.statusCode()).isEqualTo(500);
            String id = r.headers().firstValue("x-request-id").orElseThrow();
            assertThat(id).matches(ID);
            assertThat(logged)
                    .anySatisfy(
                            line -> assertThat(line).contains("proxy failed on").contains(id));
        } finally {
            proxyLogs.removeHandler(handler);
        }
    }

    /**
     * A session's id is its bearer's secret: the log line of a failure names the route's template, never the path
     * the id is in (nor any other client-chosen path text).
     */
    @Test
    void aFailuresLogLineNamesTheRouteNotThePathWithASessionsId() {
        String sessionId = "3f1c9a7e-5b2d-4e8f-9a6c-secretsession";
        ProxyEngine engine = ProxyEngine.builder(Upstream.config(upstream).build())
                .step(RequestStep.Position.AFTER_RESPONSE_HEADERS, (context, next) -> {
                    throw new IllegalStateException("a bug in the host's step");
                })
                .build();
        List<String> logged = new CopyOnWriteArrayList<>();
        Handler handler = new Handler() {
            @Override
            public void publish(LogRecord r) {
                logged.add(new java.util.logging.SimpleFormatter().formatMessage(r));
            }

            @Override
            public void flush() {}

            @Override
            public void close() {}
        };
        Logger proxyLogs = Logger.getLogger("io.github.openaiproxy");
        proxyLogs.addHandler(handler);
        try (TomcatProxy proxy = TomcatProxy.servlet(engine)) {
            HttpResponse<String> r = Http.send(Http.request(proxy.uri("/sessions/" + sessionId + "/messages"))
                    .timeout(Duration.ofSeconds(5))
                    .GET()
                    .build());
            assertThat(r.statusCode()).isEqualTo(500);
            String id = r.headers().firstValue("x-request-id").orElseThrow();
            assertThat(logged)
                    .anySatisfy(
                            line -> assertThat(line).contains("proxy failed on").contains(id));
            assertThat(logged).noneSatisfy(line -> assertThat(line).contains(sessionId));
        } finally {
            proxyLogs.removeHandler(handler);
        }
    }

    @Test
    void anUpstreamsAnswerKeepsItsOwnIdAndARelayedSuccessWithoutOneGetsNone() {
        ProxyEngine engine =
                ProxyEngine.builder(Upstream.config(upstream).build()).build();
        try (TomcatProxy proxy = TomcatProxy.servlet(engine)) {
            for (int status : List.of(200, 400, 429, 500)) {
                upstream.stubFor(any(anyUrl())
                        .willReturn(aResponse()
                                .withStatus(status)
                                .withHeader("Content-Type", "application/json")
                                .withHeader("x-request-id", "req_upstream0123456789abcdef")
                                .withBody(
                                        status == 200
                                                ? "{\"ok\":true}"
                                                : "{\"error\":{\"message\":\"no\",\"type\":\"x\",\"code\":\"y\"}}")));
                for (String path : List.of("/", "/v1/chat/completions")) {
                    HttpResponse<String> r = send(proxy, path, CHAT, "application/json");
                    assertThat(r.statusCode()).as(path).isEqualTo(status);
                    assertThat(r.headers().allValues("x-request-id"))
                            .as(path + " " + status)
                            .containsExactly("req_upstream0123456789abcdef");
                }
            }
            upstream.stubFor(any(anyUrl())
                    .willReturn(aResponse()
                            .withStatus(200)
                            .withHeader("Content-Type", "application/json")
                            .withBody("{\"ok\":true}")));
            HttpResponse<String> r = send(proxy, "/v1/chat/completions", CHAT, "application/json");
            assertThat(r.statusCode()).isEqualTo(200);
            assertThat(r.headers().firstValue("x-request-id")).isEmpty();
        }
    }

    @Test
    void anUpstreamErrorWithoutAnIdGetsTheProxys() {
        ProxyEngine engine =
                ProxyEngine.builder(Upstream.config(upstream).build()).build();
        try (TomcatProxy proxy = TomcatProxy.servlet(engine)) {
            upstream.stubFor(any(anyUrl())
                    .willReturn(aResponse()
                            .withStatus(503)
                            .withHeader("Content-Type", "text/html")
                            .withBody("<html>busy</html>")));
            HttpResponse<String> r = send(proxy, "/v1/chat/completions", CHAT, "application/json");
            assertThat(r.statusCode()).isEqualTo(503);
            assertThat(r.headers().allValues("x-request-id"))
                    .singleElement()
                    .asString()
                    .matches(ID);
        }
    }

    private static HttpResponse<String> send(TomcatProxy proxy, String path, String body, String type) {
        return Http.send(Http.request(proxy.uri(path))
                .timeout(Duration.ofSeconds(5))
                .header("Content-Type", type)
                .header("X-Request-Id", "client-chosen-id")
                .POST(HttpRequest.BodyPublishers.ofString(body))
                .build());
    }
}
