package io.github.openaiproxy.core;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static io.github.openaiproxy.core.EngineFixture.config;
import static io.github.openaiproxy.core.EngineFixture.get;
import static io.github.openaiproxy.core.EngineFixture.send;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.openaiproxy.core.cors.CorsConfig;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.internal.HeaderMap;
import io.github.openaiproxy.core.route.CustomRoute;
import io.github.openaiproxy.core.route.RouteCall;
import io.github.openaiproxy.core.testing.Answer;
import io.github.openaiproxy.testsupport.WireMockUpstream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Routes a module adds get the engine's CORS, method and size handling, and can call the proxy's own routes. */
class ProxyEngineCustomRouteTest {
    @RegisterExtension
    static final WireMockUpstream upstream = new WireMockUpstream();

    /** Answers with the upstream chat content it gets by dispatching the body to POST /. */
    static final CustomRoute ECHO_CHAT = new CustomRoute() {
        @Override
        public String path() {
            return "/echo-chat";
        }

        @Override
        public Set<String> methods() {
            return Set.of("POST");
        }

        @Override
        public CompletableFuture<ProxyResponse> handle(RouteCall call) {
            ProxyRequest chat = ProxyRequest.builder("POST", "/")
                    .header("Content-Type", "application/json")
                    .body(call.body())
                    .build();
            return call.dispatch(chat)
                    .thenApply(r -> new ProxyResponse(
                            201,
                            new HeaderMap()
                                    .set("Content-Type", "application/json")
                                    .build(),
                            r.body(),
                            false));
        }
    };

    private ProxyEngine engine(ProxyConfig.Builder config) {
        return ProxyEngine.builder(config.build()).route(ECHO_CHAT).build();
    }

    @Test
    void aCustomRouteRunsSubRequestsThroughTheProxy() {
        upstream.server()
                .stubFor(post("/v1/chat/completions")
                        .willReturn(aResponse()
                                .withHeader("Content-Type", "application/json")
                                .withBody(EngineFixture.CHAT_COMPLETION)));
        try (ProxyEngine engine = engine(config(upstream.baseUrl()))) {
            Answer a = send(engine, EngineFixture.post("/echo-chat", EngineFixture.CHAT));
            assertThat(a.status()).isEqualTo(201);
            assertThat(a.text()).isEqualTo(EngineFixture.CHAT_COMPLETION);
            assertThat(engine.hasRoute("/echo-chat")).isTrue();
        }
    }

    @Test
    void subRequestsCountAgainstTheCallingClientsCap() {
        upstream.server()
                .stubFor(post("/v1/chat/completions")
                        .willReturn(aResponse()
                                .withHeader("Content-Type", "application/json")
                                .withBody(EngineFixture.CHAT_COMPLETION)));
        try (ProxyEngine engine = engine(config(upstream.baseUrl()).maxConcurrentUpstreamCallsPerClient(1))) {
            // A call of 10.0.0.1 whose answer is not read yet holds that client's only permit.
            ProxyResponse held = engine.handle(EngineFixture.post("/", EngineFixture.CHAT)
                            .remoteAddress("10.0.0.1")
                            .build())
                    .join();
            assertThat(held.status()).isEqualTo(200);

            Answer same = send(
                    engine, EngineFixture.post("/echo-chat", EngineFixture.CHAT).remoteAddress("10.0.0.1"));
            Answer other = send(
                    engine, EngineFixture.post("/echo-chat", EngineFixture.CHAT).remoteAddress("10.0.0.2"));

            assertThat(same.text()).contains("Too Many Requests");
            assertThat(other.text()).isEqualTo(EngineFixture.CHAT_COMPLETION);
            held.discard();
            assertThat(engine.upstreamCallsInFlight()).isZero();
        }
    }

    @Test
    void thePerClientCapCountsATrustedProxysClientsApartAndAnIpv6NetworkAsOne() {
        upstream.server()
                .stubFor(post("/v1/chat/completions")
                        .willReturn(aResponse()
                                .withHeader("Content-Type", "application/json")
                                .withBody(EngineFixture.CHAT_COMPLETION)));
        try (ProxyEngine engine = engine(config(upstream.baseUrl())
                .access(io.github.openaiproxy.core.access.AccessConfig.DEFAULTS.withTrustedProxies(
                        List.of("10.0.0.0/8")))
                .maxConcurrentUpstreamCallsPerClient(1))) {
            // Behind the trusted proxy 10.0.0.9: a client holds its one permit with an unread answer.
            ProxyResponse held = engine.handle(EngineFixture.post("/", EngineFixture.CHAT)
                            .remoteAddress("10.0.0.9")
                            .header("X-Forwarded-For", "2001:db8:1:2::7")
                            .build())
                    .join();
            assertThat(held.status()).isEqualTo(200);

            // Another client behind the same proxy has its own permit (it used to share the proxy's address).
            Answer other = send(
                    engine,
                    EngineFixture.post("/", EngineFixture.CHAT)
                            .remoteAddress("10.0.0.9")
                            .header("X-Forwarded-For", "203.0.113.5"));
            assertThat(other.status()).as(other.text()).isEqualTo(200);
            // The first client's next address in its /64 is the same client, directly and through a module route.
            Answer sameNetwork = send(
                    engine,
                    EngineFixture.post("/", EngineFixture.CHAT)
                            .remoteAddress("10.0.0.9")
                            .header("X-Forwarded-For", "2001:db8:1:2:ffff::1"));
            assertThat(sameNetwork.status()).isEqualTo(429);
            Answer viaModule = send(
                    engine,
                    EngineFixture.post("/echo-chat", EngineFixture.CHAT)
                            .remoteAddress("10.0.0.9")
                            .header("X-Forwarded-For", "2001:db8:1:2::8"));
            assertThat(viaModule.text()).contains("Too Many Requests");
            held.discard();
            assertThat(engine.upstreamCallsInFlight()).isZero();
        }
    }

    @Test
    void aCustomRouteGetsCorsHeadersAndMethodChecks() {
        ProxyConfig.Builder config = config(upstream.baseUrl())
                .cors(CorsConfig.builder()
                        .origins(List.of("https://app.example"))
                        .build());
        try (ProxyEngine engine = engine(config)) {
            Answer wrongMethod = send(engine, get("/echo-chat").header("Origin", "https://app.example"));
            assertThat(wrongMethod.status()).isEqualTo(405);
            assertThat(wrongMethod.header("Allow")).isEqualTo("OPTIONS, POST");
            assertThat(wrongMethod.header("Access-Control-Allow-Origin")).isEqualTo("https://app.example");

            Answer preflight = send(
                    engine,
                    ProxyRequest.builder("OPTIONS", "/echo-chat")
                            .header("Origin", "https://app.example")
                            .header("Access-Control-Request-Method", "POST")
                            .header("Access-Control-Request-Headers", "content-type"));
            assertThat(preflight.status()).isEqualTo(204);
            assertThat(preflight.header("Access-Control-Allow-Methods")).isEqualTo("POST");
        }
    }

    @Test
    void aCustomRouteCannotShadowABuiltInOne() {
        CustomRoute shadow = new CustomRoute() {
            @Override
            public String path() {
                return "/v1/models";
            }

            @Override
            public Set<String> methods() {
                return Set.of("GET");
            }

            @Override
            public CompletableFuture<ProxyResponse> handle(RouteCall call) {
                return CompletableFuture.completedFuture(
                        ProxyResponse.of(200, new HeaderMap().build(), "x".getBytes(StandardCharsets.UTF_8)));
            }
        };
        assertThatThrownBy(() -> ProxyEngine.builder(ProxyConfig.defaults())
                        .route(shadow)
                        .build())
                .hasMessageContaining("/v1/models");
    }
}
