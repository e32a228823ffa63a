package io.github.openaiproxy.examples.standalone;

import static org.assertj.core.api.Assertions.assertThat;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.images.ImageGenStreamEvent;
import com.openai.models.images.ImageGenerateParams;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The standalone server in demo mode, over real HTTP, with curl-like requests and the official SDK. */
class StandaloneServerTest {
    static StandaloneServer server;
    final HttpClient http = HttpClient.newHttpClient();

    @BeforeAll
    static void start() throws Exception {
        server = StandaloneServer.start(
                new StandaloneOptions(0, "127.0.0.1", true), Map.of("OPENAI_PROXY_SESSIONS_STORE", "memory"));
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    /** A port another process holds stops the start with an error that names it, and leaves nothing running. */
    @Test
    void aPortInUseStopsTheStartWithAClearError() throws Exception {
        try (java.net.ServerSocket taken =
                new java.net.ServerSocket(0, 50, java.net.InetAddress.getByName("127.0.0.1"))) {
            int port = taken.getLocalPort();
            int threadsBefore = Thread.activeCount();
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> StandaloneServer.start(
                            new StandaloneOptions(port, "127.0.0.1", true),
                            Map.of("OPENAI_PROXY_SESSIONS_STORE", "memory")))
                    .isInstanceOf(java.io.IOException.class)
                    .hasMessageContaining("could not listen on 127.0.0.1:" + port);
            assertThat(taken.isBound()).isTrue();
            // The demo upstream, the engine and Tomcat's threads were stopped again (a few may still be ending).
            assertThat(Thread.activeCount()).isLessThan(threadsBefore + 8);
        }
    }

    URI uri(String path) {
        return URI.create("http://127.0.0.1:" + server.port() + path);
    }

    HttpResponse<String> post(String path, String json) throws Exception {
        return http.send(
                HttpRequest.newBuilder(uri(path))
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(json))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void demoChatOnTheSimpleRouteSaysItIsCanned() throws Exception {
        HttpResponse<String> r = post("/", "{\"messages\":[{\"role\":\"user\",\"content\":\"Hello!\"}]}");
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).contains("[demo]").contains("Hello!").contains("\"model\":\"gpt-3.5-turbo\"");
        assertThat(r.headers().firstValue(DemoMarker.HEADER)).isPresent();
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(
            strings = {
                "/graphql/",
                "//graphql",
                "/graphql;jsessionid=x",
                "/GraphQL",
                "/graphql%2F",
                "/graphql%2f",
                "/sessions/",
                "/images/generations/",
                "/v1/chat/completions/"
            })
    void aVariantOfARoutesPathIsNotThatRoute(String path) throws Exception {
        HttpResponse<String> r = post(path, "{\"query\":\"mutation { createSession { sessionId } }\"}");
        // Every variant is the proxy's 404 (an encoded slash reaches it still encoded: no route takes it there).
        assertThat(r.statusCode()).as(r.body()).isEqualTo(404);
        assertThat(r.body()).doesNotContain("sessionId").doesNotContain("[demo]");
    }

    @Test
    void graphQlAndTheChatPageAreNotSniffed() throws Exception {
        HttpResponse<String> graphQl = post("/graphql", "{\"query\":\"{ __typename }\"}");
        assertThat(graphQl.statusCode()).isEqualTo(200);
        assertThat(graphQl.headers().allValues("x-content-type-options")).containsExactly("nosniff");
        HttpResponse<String> notFound = post("/graphql/", "{}");
        assertThat(notFound.headers().allValues("x-content-type-options")).containsExactly("nosniff");
        HttpResponse<String> page =
                http.send(HttpRequest.newBuilder(uri("/chat/chat.js")).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(page.statusCode()).isEqualTo(200);
        assertThat(page.headers().allValues("x-content-type-options")).containsExactly("nosniff");
    }

    /**
     * The server keeps response heads small (4 KB, see {@code StandaloneServer.tune}); a preflight's allowed headers
     * are echoed, so a long list of allowed names must not overflow the head, which Tomcat answers with nothing.
     */
    @Test
    void aPreflightAskingForALongListOfHeadersGetsAnAnswer() throws Exception {
        HttpResponse<String> repeated =
                preflight(String.join(", ", java.util.Collections.nCopies(350, "x-stainless-arch")));
        assertThat(repeated.statusCode()).isEqualTo(204);
        assertThat(repeated.headers().firstValue("Access-Control-Allow-Headers"))
                .contains("x-stainless-arch");

        StringBuilder distinct = new StringBuilder("content-type");
        for (int i = 0; distinct.length() < 6000; i++) {
            distinct.append(", x-stainless-h").append(i);
        }
        HttpResponse<String> tooMany = preflight(distinct.toString());
        assertThat(tooMany.statusCode()).isEqualTo(403);
        assertThat(tooMany.body()).contains("CORS preflight rejected");
    }

    /**
     * An origin pattern's {@code *} stands for one host label, at most 63 characters in DNS: a longer one, echoed in
     * {@code Access-Control-Allow-Origin}, would overflow the 4 KB response head, and Tomcat would answer nothing.
     */
    @Test
    void anOriginWhoseLabelIsLongerThanDnsAllowsDoesNotMatchAPattern() throws Exception {
        StandaloneServer patterned = StandaloneServer.start(
                new StandaloneOptions(0, "127.0.0.1", true),
                Map.of(
                        "OPENAI_PROXY_SESSIONS_STORE",
                        "memory",
                        "OPENAI_PROXY_ALLOWED_ORIGINS",
                        "https://*.example.com"));
        try {
            URI models = URI.create("http://127.0.0.1:" + patterned.port() + "/v1/models");
            String fits = "https://" + "a".repeat(63) + ".example.com";
            HttpResponse<String> ok = http.send(
                    HttpRequest.newBuilder(models).header("Origin", fits).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(ok.statusCode()).isEqualTo(200);
            assertThat(ok.headers().firstValue("Access-Control-Allow-Origin")).contains(fits);

            HttpResponse<String> tooLong = http.send(
                    HttpRequest.newBuilder(models)
                            .header("Origin", "https://" + "a".repeat(6000) + ".example.com")
                            .build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(tooLong.statusCode()).isEqualTo(403);
            assertThat(tooLong.body()).contains("origin_not_allowed");
        } finally {
            patterned.close();
        }
    }

    private HttpResponse<String> preflight(String requestHeaders) throws Exception {
        return http.send(
                HttpRequest.newBuilder(uri("/v1/chat/completions"))
                        .method("OPTIONS", HttpRequest.BodyPublishers.noBody())
                        .header("Origin", "http://localhost:5173")
                        .header("Access-Control-Request-Method", "POST")
                        .header("Access-Control-Request-Headers", requestHeaders)
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void tomcatsOwnErrorPagesAreNotSniffedAndDoNotNameTomcat() throws Exception {
        // Refused by Tomcat before the proxy sees them: an encoded NUL, and TRACE.
        HttpResponse<String> encodedSlash =
                http.send(HttpRequest.newBuilder(uri("/graphql%00")).build(), HttpResponse.BodyHandlers.ofString());
        HttpResponse<String> trace = http.send(
                HttpRequest.newBuilder(uri("/"))
                        .method("TRACE", HttpRequest.BodyPublishers.noBody())
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(encodedSlash.statusCode()).isEqualTo(400);
        assertThat(trace.statusCode()).isEqualTo(405);
        for (HttpResponse<String> r : List.of(encodedSlash, trace)) {
            assertThat(r.headers().allValues("x-content-type-options")).containsExactly("nosniff");
            assertThat(r.body()).doesNotContainIgnoringCase("tomcat").doesNotContain("Exception");
        }
    }

    @Test
    void demoImageOnTheImageRoute() throws Exception {
        HttpResponse<String> r = post("/images/generations", "{\"prompt\":\"a lighthouse\"}");
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).contains("\"url\":\"data:image/svg+xml;base64,");
    }

    /**
     * A streamed GPT image generation, on the simple route and through the SDK on /v1, gets the demo's event
     * stream: the simple route answers a stream it asked for only with one, so a demo that ignored "stream" was
     * a 502 there.
     */
    @Test
    void demoStreamsAGptImageGeneration() throws Exception {
        HttpResponse<java.util.stream.Stream<String>> r = http.send(
                HttpRequest.newBuilder(uri("/images/generations"))
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"gpt-image-1\",\"prompt\":\"a fox\","
                                + "\"stream\":true,\"partial_images\":1}"))
                        .build(),
                HttpResponse.BodyHandlers.ofLines());
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("content-type"))
                .hasValueSatisfying(v -> assertThat(v).startsWith("text/event-stream"));
        assertThat(r.body().filter(l -> l.startsWith("event: ")))
                .containsExactly("event: image_generation.partial_image", "event: image_generation.completed");

        OpenAIClient client = OpenAIOkHttpClient.builder()
                .baseUrl(uri("/v1").toString())
                .apiKey("anything")
                .maxRetries(0)
                .build();
        try (StreamResponse<ImageGenStreamEvent> stream = client.images()
                .generateStreaming(ImageGenerateParams.builder()
                        .model("gpt-image-1")
                        .prompt("a fox")
                        .build())) {
            assertThat(stream.stream().toList())
                    .singleElement()
                    .satisfies(
                            e -> assertThat(e.asGenerationCompleted().b64Json()).isNotEmpty());
        } finally {
            client.close();
        }
    }

    @Test
    void demoStreamArrivesAsEventsEndingWithDone() throws Exception {
        HttpResponse<java.util.stream.Stream<String>> r = http.send(
                HttpRequest.newBuilder(uri("/"))
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(
                                "{\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}"))
                        .build(),
                HttpResponse.BodyHandlers.ofLines());
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("content-type"))
                .hasValueSatisfying(v -> assertThat(v).startsWith("text/event-stream"));
        List<String> events = r.body().filter(l -> l.startsWith("data: ")).collect(Collectors.toList());
        assertThat(events.size()).isGreaterThan(3);
        assertThat(events.get(events.size() - 1)).isEqualTo("data: [DONE]");
    }

    @Test
    void browserOnLocalhostMayCallTheDemo() throws Exception {
        HttpResponse<String> r = http.send(
                HttpRequest.newBuilder(uri("/"))
                        .method("OPTIONS", HttpRequest.BodyPublishers.noBody())
                        .header("Origin", "http://localhost:5173")
                        .header("Access-Control-Request-Method", "POST")
                        .header("Access-Control-Request-Headers", "content-type")
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(204);
        assertThat(r.headers().firstValue("access-control-allow-origin")).contains("http://localhost:5173");
    }

    @Test
    void officialSdkWorksAgainstTheDemoWithOnlyItsBaseUrlChanged() {
        OpenAIClient client = OpenAIOkHttpClient.builder()
                .baseUrl(uri("/v1").toString())
                .apiKey("anything")
                .maxRetries(0)
                .build();
        try {
            ChatCompletionCreateParams params = ChatCompletionCreateParams.builder()
                    .model("gpt-4o-mini")
                    .addUserMessage("Hi there")
                    .build();
            ChatCompletion completion = client.chat().completions().create(params);
            assertThat(completion.choices().get(0).message().content())
                    .hasValueSatisfying(c -> assertThat(c).startsWith("[demo]"));
            StringBuilder text = new StringBuilder();
            try (StreamResponse<ChatCompletionChunk> stream =
                    client.chat().completions().createStreaming(params)) {
                stream.stream()
                        .flatMap(chunk -> chunk.choices().stream())
                        .forEach(choice -> choice.delta().content().ifPresent(text::append));
            }
            assertThat(text.toString()).startsWith("[demo]").contains("Hi there");
        } finally {
            client.close();
        }
    }
}
