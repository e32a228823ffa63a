package io.github.openaiproxy.spring.web;

import static com.github.tomakehurst.wiremock.client.WireMock.equalTo;
import static com.github.tomakehurst.wiremock.client.WireMock.matchingJsonPath;
import static com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.WireMockServer;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * The proxy at {@code /} of an application with its own {@code GET /}: the proxy takes only the requests it
 * serves, as the standalone server would answer them, and the application keeps the rest.
 */
@SpringBootTest(
        classes = HostApplication.class,
        webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = {
            "openai.proxy.api-key=" + Upstream.KEY,
            "openai.proxy.cors.allowed-origins=http://localhost:3000",
            "openai.proxy.chat.model=gpt-4o-mini"
        })
class ProxyAtTheRootIntegrationTests {
    static final WireMockServer upstream = Upstream.start();

    @LocalServerPort
    int port;

    final HttpClient http = HttpClient.newHttpClient();

    @DynamicPropertySource
    static void upstream(DynamicPropertyRegistry registry) {
        registry.add("openai.proxy.base-url", () -> "http://127.0.0.1:" + upstream.port());
    }

    @AfterAll
    static void stopUpstream() {
        upstream.stop();
    }

    HttpRequest.Builder request(String path) {
        return HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path));
    }

    HttpResponse<String> send(HttpRequest.Builder request) throws Exception {
        return http.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }

    HttpRequest.Builder postJson(String path, String json) {
        return request(path).header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(json));
    }

    @Test
    void simpleChatRouteWithDefaultsFromProperties() throws Exception {
        HttpResponse<String> r = send(postJson("/", "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}"));

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).contains("Hello from the upstream");
        upstream.verify(postRequestedFor(urlEqualTo("/v1/chat/completions"))
                .withRequestBody(matchingJsonPath("$.model", equalTo("gpt-4o-mini")))
                .withRequestBody(matchingJsonPath("$.max_tokens", equalTo("1000"))));
    }

    @Test
    void simpleChatRouteStreamsEventByEvent() throws Exception {
        Upstream.stubStream(upstream);
        HttpResponse<java.util.stream.Stream<String>> r = http.send(
                postJson("/", "{\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}")
                        .build(),
                HttpResponse.BodyHandlers.ofLines());

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("Content-Type"))
                .hasValueSatisfying(v -> assertThat(v).startsWith("text/event-stream"));
        List<String> events = r.body().filter(l -> l.startsWith("data: ")).collect(Collectors.toList());
        assertThat(events).hasSize(6).last().isEqualTo("data: [DONE]");
    }

    @Test
    void theApplicationKeepsItsOwnGetOnTheRoot() throws Exception {
        assertThat(send(request("/")).body()).isEqualTo("home of the host");
        assertThat(send(request("/hello")).body()).isEqualTo("hello from the host");
    }

    @Test
    void corsPreflightForAProxyRouteIsTheProxys() throws Exception {
        HttpResponse<String> r = send(request("/")
                .method("OPTIONS", HttpRequest.BodyPublishers.noBody())
                .header("Origin", "http://localhost:3000")
                .header("Access-Control-Request-Method", "POST")
                .header("Access-Control-Request-Headers", "content-type"));
        assertThat(r.statusCode()).isEqualTo(204);
        assertThat(r.headers().firstValue("Access-Control-Allow-Origin")).contains("http://localhost:3000");

        HttpResponse<String> denied = send(postJson("/", "{\"messages\":[]}").header("Origin", "https://evil.example"));
        assertThat(denied.statusCode()).isEqualTo(403);
    }

    @Test
    void passThroughRoutesAreTheProxys() throws Exception {
        HttpResponse<String> models = send(request("/v1/models"));
        assertThat(models.statusCode()).isEqualTo(200);
        assertThat(models.body()).contains("gpt-4o-mini");
    }

    @Test
    void aMethodTheProxyDoesNotServeIsLeftToTheApplication() throws Exception {
        HttpResponse<String> r = send(request("/v1/models").DELETE());
        // Spring's answer (its error JSON has a timestamp), not the proxy's 405.
        assertThat(r.body()).contains("timestamp").doesNotContain("invalid_request_error");
    }
}
