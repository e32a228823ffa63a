package io.github.openaiproxy.servlet;

import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.route.CustomRoute;
import io.github.openaiproxy.core.route.RouteCall;
import io.github.openaiproxy.core.testing.Upstream;
import io.github.openaiproxy.servlet.support.Http;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A module's sub-requests count against the per-client cap of the client they run for, by the address the engine
 * counted that client by, whatever address the module wrote on them: a module that copied its request's peer address
 * (the load balancer's) made every client behind it share one client's cap, so one client's slow call refused the
 * others'.
 */
class ModuleSubRequestAddressHttpTest {
    @RegisterExtension
    static WireMockExtension upstream = Upstream.extension();

    static final byte[] CHAT =
            "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}".getBytes(StandardCharsets.UTF_8);

    /** A module that names its sub-request's address itself: the connection's peer, not the client. */
    static final CustomRoute RELAY = new CustomRoute() {
        @Override
        public String path() {
            return "/relay";
        }

        @Override
        public Set<String> methods() {
            return Set.of("POST");
        }

        @Override
        public CompletableFuture<ProxyResponse> handle(RouteCall call) {
            return call.dispatch(ProxyRequest.builder("POST", "/")
                    .header("Content-Type", "application/json")
                    .remoteAddress(call.request().remoteAddress().orElse(null))
                    .body(CHAT)
                    .build());
        }
    };

    @Test
    void aModulesSubRequestsCountAgainstTheirOwnClientsCapOnly() throws Exception {
        upstream.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .willReturn(okJson("{\"choices\":[]}").withFixedDelay(1500)));
        ProxyEngine engine = ProxyEngine.builder(ProxySettings.from(Map.of("access.trusted-proxies", "127.0.0.1"))
                        .applyTo(Upstream.config(upstream))
                        .maxConcurrentUpstreamCallsPerClient(1)
                        .build())
                .route(RELAY)
                .build();
        try (TomcatProxy proxy = TomcatProxy.servlet(engine)) {
            CompletableFuture<HttpResponse<String>> slow =
                    CompletableFuture.supplyAsync(() -> relay(proxy, "203.0.113.1"));
            awaitUpstreamCalls(1);
            HttpResponse<String> sameClient = relay(proxy, "203.0.113.1");
            HttpResponse<String> otherClient = relay(proxy, "203.0.113.2");
            assertThat(sameClient.statusCode()).as(sameClient.body()).isEqualTo(429);
            assertThat(otherClient.statusCode()).as(otherClient.body()).isEqualTo(200);
            assertThat(slow.get().statusCode()).isEqualTo(200);
        }
    }

    private static HttpResponse<String> relay(TomcatProxy proxy, String client) {
        return Http.postJson(proxy.uri("/relay"), "{}", "X-Forwarded-For", client);
    }

    private static void awaitUpstreamCalls(int calls) throws InterruptedException {
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (upstream.getAllServeEvents().size() < calls && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
    }
}
