package io.github.openaiproxy.graphql;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.anyRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.graphql.support.GraphQlServer;
import io.github.openaiproxy.graphql.support.Upstream;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Requests shaped to get around the transport's checks or to multiply what one small request costs. */
class GraphQlHostileRequestsTest {
    @RegisterExtension
    static final Upstream upstream = new Upstream();

    static final ObjectMapper JSON = new ObjectMapper();
    static final String SUBSCRIPTION =
            "subscription { chatStream(input: {messages: [{role: \"user\", content: \"hi\"}]}) { content } }";

    private static HttpResponse<String> postJson(GraphQlServer server, ObjectNode body) {
        return server.send(HttpRequest.newBuilder(server.uri("/graphql"))
                .header("Content-Type", "application/json")
                .header("Accept", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body.toString())));
    }

    /** How many bytes a request body holds. */
    private static java.util.concurrent.CompletableFuture<Long> count(
            java.util.concurrent.Flow.Publisher<java.nio.ByteBuffer> body) {
        java.util.concurrent.CompletableFuture<Long> total = new java.util.concurrent.CompletableFuture<>();
        body.subscribe(new java.util.concurrent.Flow.Subscriber<>() {
            private long n;

            @Override
            public void onSubscribe(java.util.concurrent.Flow.Subscription s) {
                s.request(Long.MAX_VALUE);
            }

            @Override
            public void onNext(java.nio.ByteBuffer b) {
                n += b.remaining();
            }

            @Override
            public void onError(Throwable t) {
                total.completeExceptionally(t);
            }

            @Override
            public void onComplete() {
                total.complete(n);
            }
        });
        return total;
    }

    @Test
    void aSubscriptionNamedEmptyIsRefusedAsAnyOtherOutsideServerSentEvents() {
        // graphql-java runs the one operation for an empty name as for none; the transport must judge it so too.
        upstream.server()
                .stubFor(post("/v1/chat/completions")
                        .willReturn(aResponse()
                                .withHeader("Content-Type", "text/event-stream")
                                .withBody(
                                        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}]}"
                                                + "\n\ndata: [DONE]\n\n")));
        try (GraphQlServer server =
                GraphQlServer.start(GraphQlServer.config(upstream.baseUrl()).build())) {
            HttpResponse<String> r = postJson(
                    server, JSON.createObjectNode().put("query", SUBSCRIPTION).put("operationName", ""));

            assertThat(r.statusCode()).as(r.body()).isEqualTo(400);
            assertThat(r.body()).contains("Server-Sent Events");
            assertThat(upstream.server().findAll(anyRequestedFor(anyUrl()))).isEmpty();
        }
    }

    @Test
    void aVariableNamedManyTimesIsNeverWrittenOutPastTheBodyLimit() throws Exception {
        // What the module hands to the engine, counted: the body must not be built to be refused.
        StringBuilder query = new StringBuilder("mutation($m: MessageInput!) { getAIResponse(input: {messages: [");
        query.append("$m,".repeat(900)).append("]}) { success error } }");
        ObjectNode request = JSON.createObjectNode().put("query", query.toString());
        request.putObject("variables").putObject("m").put("role", "user").put("content", "x".repeat(20_000));
        byte[] graphQl = JSON.writeValueAsBytes(request);
        io.github.openaiproxy.core.ProxyConfig config = ProxySettings.from(Map.of("max-body-size", "1MB"))
                .applyTo(GraphQlServer.config(upstream.baseUrl()))
                .build();
        java.util.List<io.github.openaiproxy.core.http.ProxyRequest> dispatched =
                new java.util.concurrent.CopyOnWriteArrayList<>();
        java.util.concurrent.atomic.AtomicLong bytes = new java.util.concurrent.atomic.AtomicLong();
        io.github.openaiproxy.core.route.RouteCall call = new io.github.openaiproxy.core.route.RouteCall() {
            @Override
            public io.github.openaiproxy.core.http.ProxyRequest request() {
                return io.github.openaiproxy.core.http.ProxyRequest.builder("POST", "/graphql")
                        .header("Content-Type", "application/json")
                        .body(graphQl)
                        .build();
            }

            @Override
            public byte[] body() {
                return graphQl.clone();
            }

            @Override
            public java.util.concurrent.CompletableFuture<io.github.openaiproxy.core.http.ProxyResponse> dispatch(
                    io.github.openaiproxy.core.http.ProxyRequest sub) {
                dispatched.add(sub);
                return count(sub.body()).thenApply(n -> {
                    bytes.addAndGet(n);
                    return io.github.openaiproxy.core.http.ProxyResponse.builder(413)
                            .json("{\"error\":\"Payload Too Large\"}".getBytes(java.nio.charset.StandardCharsets.UTF_8))
                            .build();
                });
            }

            @Override
            public io.github.openaiproxy.core.access.Identity identity() {
                return io.github.openaiproxy.core.access.Identity.anonymous("127.0.0.1", "anonymous");
            }
        };

        io.github.openaiproxy.core.http.ProxyResponse r =
                GraphQlRoute.create(config).handle(call).get(60, java.util.concurrent.TimeUnit.SECONDS);
        io.github.openaiproxy.testsupport.BodyReader.collect(r.body()).get(30, java.util.concurrent.TimeUnit.SECONDS);

        assertThat(dispatched).hasSize(1);
        assertThat(bytes.get())
                .as("bytes written for a %d-byte request", graphQl.length)
                .isZero();
        assertThat(dispatched.get(0).headers().firstValue("Content-Length"))
                .contains(Long.toString(config.maxBodySize() + 1));
    }

    @Test
    void aVariableNamedManyTimesCannotMakeASubRequestBodyPastTheBodyLimit() throws Exception {
        // 900 references to one 20 KB message: an 18 MB chat body from a request of about 30 KB.
        StringBuilder query = new StringBuilder("mutation($m: MessageInput!) { getAIResponse(input: {messages: [");
        query.append("$m,".repeat(900)).append("]}) { success error } }");
        ObjectNode request = JSON.createObjectNode().put("query", query.toString());
        request.putObject("variables").putObject("m").put("role", "user").put("content", "x".repeat(20_000));
        try (GraphQlServer server = GraphQlServer.start(ProxySettings.from(Map.of("max-body-size", "1MB"))
                .applyTo(GraphQlServer.config(upstream.baseUrl()))
                .build())) {
            HttpResponse<String> r = postJson(server, request);

            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            JsonNode answer = JSON.readTree(r.body());
            assertThat(answer.at("/errors/0/extensions/code").asText())
                    .as(r.body())
                    .isEqualTo("BAD_USER_INPUT");
            assertThat(answer.at("/errors/0/message").asText()).contains("1048576");
            assertThat(upstream.server().findAll(anyRequestedFor(anyUrl()))).isEmpty();
        }
    }

    /**
     * The GraphQL route reads and parses its body: it is held to max-body-size whatever max-upload-size allows the
     * uploads of the pass-through routes, declared or chunked, JSON or declared as an upload's multipart.
     */
    @Test
    void aGraphQlBodyIsHeldToTheBodyLimitNotTheUploadLimit() throws Exception {
        byte[] body = new byte[1536 * 1024];
        java.util.Arrays.fill(body, (byte) ' ');
        byte[] query = "{\"query\":\"{ __typename }\"}".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        System.arraycopy(query, 0, body, 0, query.length);
        try (GraphQlServer server =
                GraphQlServer.start(ProxySettings.from(Map.of("max-body-size", "1MB", "max-upload-size", "512MB"))
                        .applyTo(GraphQlServer.config(upstream.baseUrl()))
                        .build())) {
            for (String type : new String[] {"application/json", "multipart/form-data; boundary=x"}) {
                HttpResponse<String> declared = server.send(HttpRequest.newBuilder(server.uri("/graphql"))
                        .header("Content-Type", type)
                        .POST(HttpRequest.BodyPublishers.ofByteArray(body)));
                HttpResponse<String> chunked = server.send(HttpRequest.newBuilder(server.uri("/graphql"))
                        .header("Content-Type", type)
                        .POST(HttpRequest.BodyPublishers.ofInputStream(() -> new java.io.ByteArrayInputStream(body))));

                for (HttpResponse<String> r : java.util.List.of(declared, chunked)) {
                    assertThat(r.statusCode()).as(type + " " + r.body()).isEqualTo(413);
                    assertThat(r.body()).contains("1048576");
                }
            }
        }
        assertThat(upstream.server().findAll(anyRequestedFor(anyUrl()))).isEmpty();
    }
}
