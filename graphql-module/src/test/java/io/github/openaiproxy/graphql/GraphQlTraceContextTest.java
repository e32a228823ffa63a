package io.github.openaiproxy.graphql;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.observe.ProxyObserver;
import io.github.openaiproxy.graphql.support.GraphQlServer;
import java.net.URI;
import java.net.http.HttpHeaders;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A GraphQL call's sub-requests carry its caller's W3C trace context to the engine's observers, so a tracing
 * observer continues the browser's trace through {@code getAIResponse} to the model server (with {@code
 * tracing.client-context=continue}; by default observers get no headers at all).
 */
class GraphQlTraceContextTest {
    private static final String TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    /** Remembers the headers each sub-request began with. */
    static final class Recording implements ProxyObserver {
        final List<HttpHeaders> subRequests = new CopyOnWriteArrayList<>();

        @Override
        public Observation begin(String method, String path) {
            return Observation.NONE;
        }

        @Override
        public Observation beginSubRequest(String method, String path, HttpHeaders headers) {
            subRequests.add(headers);
            return Observation.NONE;
        }
    }

    @Test
    void getAiResponsesSubRequestCarriesTheCallersTraceContextAndNothingElseOfItsHeaders() throws Exception {
        Recording observer = new Recording();
        // No upstream answers: the sub-request fails, which does not matter here.
        ProxyConfig config = GraphQlServer.config(URI.create("http://127.0.0.1:9/v1"))
                .clientTraceContext(io.github.openaiproxy.core.observe.ClientTraceContext.CONTINUE)
                .build();
        try (ProxyEngine engine = ProxyEngine.builder(config)
                .route(GraphQlRoute.create(config, GraphQlOptions.DEFAULTS))
                .observer(observer)
                .build()) {
            String query = "{\"query\":\"mutation { getAIResponse(input: {messages: [{role: \\\"user\\\", content:"
                    + " \\\"hi\\\"}]}) { success } }\"}";
            ProxyResponse r = engine.handle(ProxyRequest.builder("POST", "/graphql")
                            .header("Content-Type", "application/json")
                            .header("traceparent", TRACEPARENT)
                            .header("tracestate", "vendor=abc")
                            .header("Cookie", "session=secret")
                            .body(query.getBytes(StandardCharsets.UTF_8))
                            .build())
                    .get(30, TimeUnit.SECONDS);
            r.discard();
        }
        assertThat(observer.subRequests).hasSize(1);
        HttpHeaders sent = observer.subRequests.get(0);
        assertThat(sent.firstValue("traceparent")).hasValue(TRACEPARENT);
        assertThat(sent.firstValue("tracestate")).hasValue("vendor=abc");
        assertThat(sent.firstValue("Cookie")).isEmpty();
    }
}
