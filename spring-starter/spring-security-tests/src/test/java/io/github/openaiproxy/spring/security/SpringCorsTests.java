package io.github.openaiproxy.spring.security;

import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.options;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.WireMockServer;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * The proxy's CORS together with Spring's ({@link SpringCorsApplication}), over real HTTP. Spring's CORS filter
 * runs first: it answers preflights itself and adds its headers to every other request before the proxy sees
 * it. A browser refuses an answer with two {@code Access-Control-Allow-Origin} values, so the proxy's must
 * replace Spring's, not be added to them.
 */
@SpringBootTest(
        classes = SpringCorsApplication.class,
        webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = {
            "openai.proxy.path=/ai",
            "openai.proxy.api-key=sk-server",
            "openai.proxy.cors.allowed-origins=" + SpringCorsApplication.BOTH
        })
class SpringCorsTests {
    static final String CHAT = "/v1/chat/completions";
    static final WireMockServer upstream = startUpstream();

    @LocalServerPort
    int port;

    static WireMockServer startUpstream() {
        WireMockServer server = new WireMockServer(options().dynamicPort().bindAddress("127.0.0.1"));
        server.start();
        server.stubFor(post(CHAT)
                .willReturn(okJson("{\"id\":\"c\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"m\","
                        + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"hi\"},"
                        + "\"finish_reason\":\"stop\"}]}")));
        return server;
    }

    @DynamicPropertySource
    static void upstreamUrl(DynamicPropertyRegistry registry) {
        registry.add("openai.proxy.base-url", () -> "http://127.0.0.1:" + upstream.port());
    }

    @AfterAll
    static void stopUpstream() {
        upstream.stop();
    }

    @Test
    void anOriginBothAllowGetsOneAllowOriginHeader() throws Exception {
        HttpResponse<String> r = chat(SpringCorsApplication.BOTH);

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().allValues("Access-Control-Allow-Origin")).containsExactly(SpringCorsApplication.BOTH);
        assertThat(r.headers().allValues("Access-Control-Expose-Headers")).hasSize(1);
    }

    @Test
    void anOriginOnlySpringAllowsIsRefusedByTheProxyReadablyForThePage() throws Exception {
        HttpResponse<String> r = chat(SpringCorsApplication.SPRING_ONLY);

        assertThat(r.statusCode()).isEqualTo(403);
        assertThat(r.body()).contains("origin_not_allowed");
        assertThat(r.headers().allValues("Access-Control-Allow-Origin"))
                .containsExactly(SpringCorsApplication.SPRING_ONLY);
    }

    private HttpResponse<String> chat(String origin) throws Exception {
        return HttpClient.newHttpClient()
                .send(
                        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/ai" + CHAT))
                                .header("Content-Type", "application/json")
                                .header("Origin", origin)
                                .POST(HttpRequest.BodyPublishers.ofString(
                                        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}"))
                                .build(),
                        HttpResponse.BodyHandlers.ofString());
    }
}
