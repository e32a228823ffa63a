package io.github.openaiproxy.spring.web;

import static com.github.tomakehurst.wiremock.client.WireMock.equalTo;
import static com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.github.tomakehurst.wiremock.WireMockServer;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.models.ChatModel;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import io.github.openaiproxy.spring.metrics.MicrometerProxyObserver;
import io.micrometer.core.instrument.MeterRegistry;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * The starter in a running application with Actuator: the proxy below {@code /ai}, the official SDK as the
 * client, WireMock as OpenAI.
 */
@SpringBootTest(
        classes = HostApplication.class,
        webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = {
            "openai.proxy.path=/ai",
            "openai.proxy.api-key=" + Upstream.KEY,
            "management.endpoints.web.exposure.include=health,metrics",
            "management.endpoint.health.show-details=always"
        })
class ProxyBelowAPathIntegrationTests {
    static final WireMockServer upstream = Upstream.start();

    @LocalServerPort
    int port;

    @Autowired
    MeterRegistry meters;

    final HttpClient http = HttpClient.newHttpClient();
    OpenAIClient sdk;

    @DynamicPropertySource
    static void upstream(DynamicPropertyRegistry registry) {
        registry.add("openai.proxy.base-url", () -> "http://127.0.0.1:" + upstream.port());
    }

    @AfterAll
    static void stopUpstream() {
        upstream.stop();
    }

    @AfterEach
    void closeSdk() {
        if (sdk != null) {
            sdk.close();
        }
    }

    OpenAIClient sdk() {
        sdk = OpenAIOkHttpClient.builder()
                .baseUrl("http://127.0.0.1:" + port + "/ai/v1")
                .apiKey("x") // the proxy drops it and sends the server key
                .maxRetries(0)
                .build();
        return sdk;
    }

    HttpResponse<String> get(String path) throws Exception {
        return http.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    static ChatCompletionCreateParams params() {
        return ChatCompletionCreateParams.builder()
                .model(ChatModel.GPT_4O_MINI)
                .addUserMessage("Hello!")
                .build();
    }

    @Test
    void officialSdkGetsACompletionWithTheServerKeySentUpstream() {
        ChatCompletion completion = sdk().chat().completions().create(params());

        assertThat(completion.choices().get(0).message().content()).contains("Hello from the upstream");
        upstream.verify(postRequestedFor(urlEqualTo("/v1/chat/completions"))
                .withHeader("Authorization", equalTo("Bearer " + Upstream.KEY)));
    }

    @Test
    void officialSdkStreamsACompletion() {
        Upstream.stubStream(upstream);
        ChatCompletionCreateParams params = params().toBuilder().build();
        List<String> parts;
        try (StreamResponse<ChatCompletionChunk> stream =
                sdk().chat().completions().createStreaming(params)) {
            parts = stream.stream()
                    .flatMap(c -> c.choices().stream())
                    .flatMap(choice -> choice.delta().content().stream())
                    .filter(s -> !s.isEmpty())
                    .collect(Collectors.toList());
        }
        assertThat(parts).containsExactly("Hel", "lo ", "stream");
        await().atMost(Duration.ofSeconds(10))
                .untilAsserted(() -> assertThat(meters.get(MicrometerProxyObserver.FIRST_EVENT)
                                .tag("route", "/v1/chat/completions")
                                .timer()
                                .count())
                        .isPositive());
        await().atMost(Duration.ofSeconds(10))
                .untilAsserted(() -> assertThat(meters.get(MicrometerProxyObserver.ACTIVE_STREAMS)
                                .gauge()
                                .value())
                        .isZero());
    }

    @Test
    void theHostsOwnRoutesAreUntouched() throws Exception {
        assertThat(get("/hello").body()).isEqualTo("hello from the host");
        assertThat(get("/").body()).isEqualTo("home of the host");
        HttpResponse<String> unknown = get("/ai/v1/files");
        assertThat(unknown.statusCode()).isEqualTo(404);
        assertThat(unknown.body()).contains("\"code\":\"unknown_url\"");
    }

    @Test
    void sessionsAndGraphQlAreBelowThePathToo() throws Exception {
        HttpResponse<String> created = http.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/ai/graphql"))
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(
                                "{\"query\":\"mutation { createSession { sessionId success } }\"}"))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(created.statusCode()).as(created.body()).isEqualTo(200);
        String sessionId = new com.fasterxml.jackson.databind.ObjectMapper()
                .readTree(created.body())
                .at("/data/createSession/sessionId")
                .asText();
        assertThat(sessionId).startsWith("ses_");

        assertThat(get("/ai/sessions/" + sessionId).statusCode()).isEqualTo(200);
        assertThat(get("/sessions/" + sessionId).statusCode())
                .as("outside the proxy's path: the application's 404")
                .isEqualTo(404);
        assertThat(get("/graphql").statusCode()).isEqualTo(404);
    }

    @Test
    void metricsAreVisibleThroughActuator() throws Exception {
        sdk().chat().completions().create(params());

        await().atMost(Duration.ofSeconds(10))
                .untilAsserted(() -> assertThat(meters.get(MicrometerProxyObserver.TOKENS)
                                .tag("model", "gpt-4o-mini")
                                .tag("type", "output")
                                .counter()
                                .count())
                        .isGreaterThanOrEqualTo(4));
        HttpResponse<String> requests =
                get("/actuator/metrics/" + MicrometerProxyObserver.REQUESTS + "?tag=route:/v1/chat/completions");
        assertThat(requests.statusCode()).isEqualTo(200);
        assertThat(requests.body()).contains("\"COUNT\"").contains("gpt-4o-mini");
        assertThat(get("/actuator/metrics/" + MicrometerProxyObserver.UPSTREAM_LATENCY)
                        .statusCode())
                .isEqualTo(200);
        assertThat(get("/actuator/metrics/" + MicrometerProxyObserver.TOKENS).body())
                .contains("input")
                .contains("output");
    }

    @Test
    void aGraphQlCallCountsOnceAsARequestAndItsUpstreamCallStillCounts() throws Exception {
        long graphQlBefore = requests("/graphql");
        long chatBefore = requests("/");
        double tokensBefore = tokens();
        long upstreamBefore = upstreamCalls("/");

        HttpResponse<String> r = http.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/ai/graphql"))
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString("{\"query\":\"mutation { getAIResponse(input:"
                                + " {model: \\\"gpt-4o-mini\\\", messages: [{role: \\\"user\\\", content:"
                                + " \\\"Hi\\\"}]}) { content success } }\"}"))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(r.body()).contains("Hello from the upstream");

        // The GraphQL call is one request; the chat it ran on '/' adds its upstream call and tokens only.
        await().atMost(Duration.ofSeconds(10))
                .untilAsserted(() -> assertThat(requests("/graphql")).isEqualTo(graphQlBefore + 1));
        assertThat(requests("/")).isEqualTo(chatBefore);
        assertThat(upstreamCalls("/")).isEqualTo(upstreamBefore + 1);
        assertThat(tokens()).isEqualTo(tokensBefore + 13);
    }

    long requests(String route) {
        return meters.find(MicrometerProxyObserver.REQUESTS).tag("route", route).timers().stream()
                .mapToLong(io.micrometer.core.instrument.Timer::count)
                .sum();
    }

    long upstreamCalls(String route) {
        return meters.find(MicrometerProxyObserver.UPSTREAM_LATENCY).tag("route", route).timers().stream()
                .mapToLong(io.micrometer.core.instrument.Timer::count)
                .sum();
    }

    double tokens() {
        return meters.find(MicrometerProxyObserver.TOKENS).counters().stream()
                .mapToDouble(io.micrometer.core.instrument.Counter::count)
                .sum();
    }

    @Test
    void healthIsVisibleThroughActuatorWithoutTheKey() throws Exception {
        HttpResponse<String> health = get("/actuator/health/openAiProxy");
        assertThat(health.statusCode()).isEqualTo(200);
        assertThat(health.body()).contains("\"status\":\"UP\"").doesNotContain(Upstream.KEY);
        assertThat(get("/actuator/health").body()).contains("openAiProxy").doesNotContain(Upstream.KEY);
    }
}
