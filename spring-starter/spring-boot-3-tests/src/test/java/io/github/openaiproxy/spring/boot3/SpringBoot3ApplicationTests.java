package io.github.openaiproxy.spring.boot3;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.equalTo;
import static com.github.tomakehurst.wiremock.client.WireMock.matchingJsonPath;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.options;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.tomakehurst.wiremock.WireMockServer;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.models.ChatModel;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import io.github.openaiproxy.core.session.SessionStore;
import io.github.openaiproxy.spring.metrics.MicrometerProxyObserver;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.observation.Observation;
import io.micrometer.observation.ObservationHandler;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.context.annotation.Bean;
import org.springframework.http.server.observation.ServerRequestObservationContext;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;

/**
 * A Spring Boot 3.5 application with the starter: the official SDK through the proxy, streaming included; the
 * GraphQL endpoint (graphql-java 24.3, Spring Boot 3.5's) and sessions in Spring Boot's embedded DataSource.
 */
@SpringBootTest(
        classes = SpringBoot3ApplicationTests.App.class,
        webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = {"openai.proxy.path=/ai", "openai.proxy.api-key=" + SpringBoot3ApplicationTests.KEY})
class SpringBoot3ApplicationTests {
    static final String KEY = "sk-boot3-secret";
    static final WireMockServer upstream = startUpstream();

    @LocalServerPort
    int port;

    @Autowired
    MeterRegistry meters;

    @Autowired
    SessionStore store;

    static final ObjectMapper JSON = new ObjectMapper();

    OpenAIClient sdk;

    @SpringBootConfiguration
    @EnableAutoConfiguration
    @RestController
    static class App {
        @GetMapping("/hello")
        String hello() {
            return "hello from the host";
        }

        /** What a tracing bridge's receiving handler reads of Boot's HTTP server observation: its traceparent. */
        @Bean
        ObservationHandler<Observation.Context> traceparentsSeen() {
            return new ObservationHandler<>() {
                @Override
                public void onStart(Observation.Context context) {
                    if (context instanceof ServerRequestObservationContext server) {
                        String seen = server.getGetter().get(server.getCarrier(), "traceparent");
                        SEEN.put(server.getCarrier().getRequestURI(), seen == null ? "none" : seen);
                    }
                }

                @Override
                public boolean supportsContext(Observation.Context context) {
                    return context instanceof ServerRequestObservationContext;
                }
            };
        }
    }

    /** The traceparent Boot's server observation saw, by request path. */
    static final Map<String, String> SEEN = new java.util.concurrent.ConcurrentHashMap<>();

    static WireMockServer startUpstream() {
        WireMockServer server = new WireMockServer(options().dynamicPort().bindAddress("127.0.0.1"));
        server.start();
        server.stubFor(post("/v1/chat/completions")
                .withRequestBody(matchingJsonPath("$.stream", equalTo("true")))
                .willReturn(aResponse()
                        .withHeader("Content-Type", "text/event-stream")
                        .withBody(chunk("Spring ") + chunk("Boot ") + chunk("3")
                                + "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,"
                                + "\"model\":\"gpt-4o-mini\",\"choices\":[],"
                                + "\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":3,\"total_tokens\":7}}\n\n"
                                + "data: [DONE]\n\n")));
        server.stubFor(post("/v1/chat/completions")
                .atPriority(10)
                .willReturn(
                        okJson("{\"id\":\"c\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"gpt-4o-mini\","
                                + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"plain\"},"
                                + "\"logprobs\":null,\"finish_reason\":\"stop\"}]}")));
        return server;
    }

    static String chunk(String text) {
        return "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\","
                + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + text + "\"},\"finish_reason\":null}]}\n\n";
    }

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

    @Test
    void officialSdkStreamsThroughTheProxy() {
        sdk = OpenAIOkHttpClient.builder()
                .baseUrl("http://127.0.0.1:" + port + "/ai/v1")
                .apiKey("x")
                .maxRetries(0)
                .build();
        String text;
        try (StreamResponse<ChatCompletionChunk> stream = sdk.chat()
                .completions()
                .createStreaming(ChatCompletionCreateParams.builder()
                        .model(ChatModel.GPT_4O_MINI)
                        .addUserMessage("Hi")
                        .build())) {
            text = stream.stream()
                    .flatMap(c -> c.choices().stream())
                    .flatMap(choice -> choice.delta().content().stream())
                    .collect(Collectors.joining());
        }
        assertThat(text).isEqualTo("Spring Boot 3");
        upstream.verify(postRequestedFor(urlEqualTo("/v1/chat/completions"))
                .withHeader("Authorization", equalTo("Bearer " + KEY)));
        await().atMost(Duration.ofSeconds(10))
                .untilAsserted(() -> assertThat(meters.get(MicrometerProxyObserver.TOKENS)
                                .tag("model", "gpt-4o-mini")
                                .tag("type", "output")
                                .counter()
                                .count())
                        .isEqualTo(3));
    }

    @Test
    void graphQlAndSessionsInSpringBootsDataSource() throws Exception {
        assertThat(store.blocking())
                .as("the JDBC store on the embedded H2 DataSource")
                .isTrue();
        JsonNode created = graphQl("mutation CreateSession { createSession { sessionId success } }", Map.of())
                .get("createSession");
        String sessionId = created.get("sessionId").asText();
        assertThat(sessionId).startsWith("ses_");

        Map<String, Object> input =
                Map.of("sessionId", sessionId, "messages", List.of(Map.of("role", "user", "content", "Hello!")));
        JsonNode reply = graphQl(
                        "mutation GetAIResponse($input: ChatInput!) { getAIResponse(input: $input) { id content"
                                + " isUser timestamp success error } }",
                        Map.of("input", input))
                .get("getAIResponse");
        assertThat(reply.get("content").asText()).isEqualTo("plain");
        assertThat(reply.get("success").asBoolean()).isTrue();

        JsonNode history = graphQl(
                        "query ChatHistory($sessionId: String) { chatHistory(sessionId: $sessionId) { id content"
                                + " isUser timestamp } }",
                        Map.of("sessionId", sessionId))
                .get("chatHistory");
        assertThat(history).hasSize(2);
        assertThat(history.get(0).get("content").asText()).isEqualTo("Hello!");
        assertThat(history.get(1).get("id").asText()).isEqualTo(reply.get("id").asText());

        HttpResponse<String> rest = HttpClient.newHttpClient()
                .send(
                        HttpRequest.newBuilder(URI.create(
                                        "http://127.0.0.1:" + port + "/ai/sessions/" + sessionId + "/messages"))
                                .build(),
                        HttpResponse.BodyHandlers.ofString());
        assertThat(rest.statusCode()).isEqualTo(200);
        assertThat(JSON.readTree(rest.body()).get("messages")).hasSize(2);
    }

    JsonNode graphQl(String query, Map<String, Object> variables) throws Exception {
        HttpResponse<String> r = HttpClient.newHttpClient()
                .send(
                        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/ai/graphql"))
                                .header("Content-Type", "application/json")
                                .POST(HttpRequest.BodyPublishers.ofString(
                                        JSON.writeValueAsString(Map.of("query", query, "variables", variables))))
                                .build(),
                        HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        JsonNode body = JSON.readTree(r.body());
        assertThat(body.has("errors")).as(r.body()).isFalse();
        return body.get("data");
    }

    /**
     * With {@code tracing.client-context=ignore} (the default) Boot 3's server observation of a request to the proxy
     * reads no client {@code traceparent}, so no tracing bridge continues the client's trace there; the
     * application's own routes still get it.
     */
    @Test
    void bootsServerObservationSeesNoClientTraceContextOnTheProxysRoutes() throws Exception {
        String traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        SEEN.clear();
        HttpClient http = HttpClient.newHttpClient();
        HttpResponse<String> chat = http.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/ai/v1/chat/completions"))
                        .header("traceparent", traceparent)
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"gpt-4o-mini\",\"messages\":[]}"))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(chat.statusCode()).as(chat.body()).isEqualTo(200);
        http.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/hello"))
                        .header("traceparent", traceparent)
                        .build(),
                HttpResponse.BodyHandlers.ofString());

        assertThat(SEEN).containsEntry("/ai/v1/chat/completions", "none").containsEntry("/hello", traceparent);
        assertThat(upstream.findAll(postRequestedFor(urlEqualTo("/v1/chat/completions"))))
                .allSatisfy(
                        sent -> assertThat(sent.containsHeader("traceparent")).isFalse());
    }

    @Test
    void theApplicationsRoutesAreUntouched() throws Exception {
        HttpClient http = HttpClient.newHttpClient();
        HttpResponse<String> hello = http.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/hello"))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(hello.body()).isEqualTo("hello from the host");
        HttpResponse<String> unknown = http.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/ai/v1/files"))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(unknown.statusCode()).isEqualTo(404);
        assertThat(unknown.body()).contains("unknown_url");
    }
}
