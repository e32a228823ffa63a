package io.github.openaiproxy.core;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static io.github.openaiproxy.core.EngineFixture.config;
import static io.github.openaiproxy.core.EngineFixture.get;
import static io.github.openaiproxy.core.EngineFixture.send;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.http.AuthenticatedUser;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.observe.Outcome;
import io.github.openaiproxy.core.observe.ProxyObserver;
import io.github.openaiproxy.core.observe.Usage;
import io.github.openaiproxy.core.testing.Answer;
import io.github.openaiproxy.testsupport.TestSubscriber;
import io.github.openaiproxy.testsupport.WireMockUpstream;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** What an observer (the Micrometer binding, for one) learns about each exchange. */
class ProxyEngineObserverTest {
    @RegisterExtension
    static final WireMockUpstream upstream = new WireMockUpstream();

    /** Records every call as a line of text. */
    static final class Recorder implements ProxyObserver {
        final List<String> calls = new CopyOnWriteArrayList<>();

        @Override
        public Observation begin(String method, String path) {
            calls.add("begin " + method + " " + path);
            return exchange("");
        }

        @Override
        public Observation beginSubRequest(String method, String path) {
            calls.add("sub-begin " + method + " " + path);
            return exchange("sub ");
        }

        private Observation exchange(String prefix) {
            return new Observation() {
                @Override
                public void routed(String route, Optional<String> model) {
                    calls.add(prefix + "routed " + route + " " + model.orElse("-"));
                }

                @Override
                public void upstreamResponded(int status, Duration latency) {
                    calls.add(prefix + "upstream " + status);
                }

                @Override
                public void firstEvent(Duration sinceStart) {
                    calls.add(prefix + "first-event");
                }

                @Override
                public void streamOpened() {
                    calls.add(prefix + "stream-opened");
                }

                @Override
                public void usage(Usage usage) {
                    calls.add(prefix + "usage " + usage.inputTokens() + "/" + usage.outputTokens() + "/"
                            + usage.totalTokens());
                }

                @Override
                public void refused(String reason, String policy) {
                    calls.add(prefix + "refused " + reason + " " + policy);
                }

                @Override
                public void imageNotStored(String reason) {
                    calls.add(prefix + "image-not-stored " + reason);
                }

                @Override
                public void finished(int status, boolean streamed, Outcome outcome, Duration duration) {
                    calls.add(prefix + "finished " + status + " " + (streamed ? "stream" : "plain") + " " + outcome);
                }
            };
        }
    }

    private final Recorder recorder = new Recorder();

    private ProxyEngine engine() {
        return ProxyEngine.builder(config(upstream.baseUrl()).build())
                .observer(recorder)
                .build();
    }

    /** A HEAD is run as its GET without the body: an answer that ended as it should, not a client gone. */
    @Test
    void aHeadIsAnAnswerThatCompletedNotAClientGone() {
        upstream.server()
                .stubFor(com.github.tomakehurst.wiremock.client.WireMock.get("/v1/models")
                        .willReturn(aResponse()
                                .withHeader("Content-Type", "application/json")
                                .withBody("{\"object\":\"list\",\"data\":[]}")));
        io.github.openaiproxy.core.testing.Answer answer;
        try (ProxyEngine engine = engine()) {
            answer = send(engine, io.github.openaiproxy.core.http.ProxyRequest.builder("HEAD", "/v1/models"));
        }
        assertThat(answer.status()).isEqualTo(200);
        assertThat(answer.text()).isEmpty();
        assertThat(recorder.calls)
                .containsExactly(
                        "begin GET /v1/models", "upstream 200", "routed /v1/models -", "finished 200 plain COMPLETED");
    }

    @Test
    void plainChatReportsRouteModelUpstreamUsageAndEnd() {
        upstream.server()
                .stubFor(post("/v1/chat/completions")
                        .willReturn(aResponse()
                                .withHeader("Content-Type", "application/json")
                                .withBody("{\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,"
                                        + "\"completion_tokens\":3,\"total_tokens\":12}}")));
        try (ProxyEngine engine = engine()) {
            send(engine, EngineFixture.post("/v1/chat/completions", "{\"model\":\"gpt-4o\",\"messages\":[]}"));
        }
        assertThat(recorder.calls)
                .containsExactly(
                        "begin POST /v1/chat/completions",
                        "upstream 200",
                        "routed /v1/chat/completions gpt-4o",
                        "usage 9/3/12",
                        "finished 200 plain COMPLETED");
    }

    @Test
    void anImageAnswerOfMegabytesReportsItsUsageToo() {
        // Read as it passes: the size of the b64_json does not matter (the body was once copied and parsed whole,
        // and skipped above 1 MiB).
        String b64 = java.util.Base64.getEncoder().encodeToString(new byte[3 << 20]);
        upstream.server()
                .stubFor(post("/v1/images/generations")
                        .willReturn(aResponse()
                                .withHeader("Content-Type", "application/json")
                                .withBody("{\"created\":1,\"data\":[{\"b64_json\":\"" + b64 + "\"}],\"usage\":{"
                                        + "\"input_tokens\":50,\"output_tokens\":4110,\"total_tokens\":4160}}")));
        try (ProxyEngine engine = engine()) {
            send(
                    engine,
                    EngineFixture.post("/v1/images/generations", "{\"model\":\"gpt-image-1\",\"prompt\":\"a cat\"}"));
        }
        assertThat(recorder.calls).contains("usage 50/4110/4160", "finished 200 plain COMPLETED");
    }

    @Test
    void aModuleRoutesSubRequestIsObservedAsOne() {
        upstream.server()
                .stubFor(post("/v1/chat/completions")
                        .willReturn(aResponse()
                                .withHeader("Content-Type", "application/json")
                                .withBody(EngineFixture.CHAT_COMPLETION)));
        try (ProxyEngine engine = ProxyEngine.builder(config(upstream.baseUrl()).build())
                .observer(recorder)
                .route(ProxyEngineCustomRouteTest.ECHO_CHAT)
                .build()) {
            send(engine, EngineFixture.post("/echo-chat", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"));
        }
        assertThat(recorder.calls)
                .startsWith("begin POST /echo-chat", "sub-begin POST /")
                .contains(
                        "sub upstream 200",
                        "sub routed / gpt-3.5-turbo",
                        "sub finished 200 plain COMPLETED",
                        "routed /echo-chat -",
                        "finished 201 plain COMPLETED")
                .doesNotContain("begin POST /");
    }

    @Test
    void streamReportsFirstEventAndUsageOfTheLastChunk() {
        String sse = "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}],\"usage\":null}\n\n"
                + "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1,\"total_tokens\":6}}\n\n"
                + "data: [DONE]\n\n";
        upstream.server()
                .stubFor(post("/v1/chat/completions")
                        .willReturn(aResponse()
                                .withHeader("Content-Type", "text/event-stream")
                                .withBody(sse)));
        try (ProxyEngine engine = engine()) {
            send(
                    engine,
                    EngineFixture.post("/", "{\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"));
        }
        assertThat(recorder.calls)
                .containsExactly(
                        "begin POST /",
                        "upstream 200",
                        "routed / gpt-3.5-turbo",
                        "stream-opened",
                        "first-event",
                        "usage 5/1/6",
                        "finished 200 stream COMPLETED");
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(
            strings = {
                // OpenAI's chat error event, as a server that writes "data:" without a space sends it
                "data:{\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}",
                // the Responses API's error event, and its response that failed
                "event: error\ndata: {\"type\":\"error\",\"code\":\"server_error\",\"message\":\"The server had an"
                        + " error\",\"param\":null,\"sequence_number\":2}",
                "event: response.failed\ndata: {\"type\":\"response.failed\",\"sequence_number\":2,\"response\":"
                        + "{\"id\":\"resp_1\",\"status\":\"failed\",\"error\":{\"code\":\"server_error\","
                        + "\"message\":\"The model failed\"},\"usage\":null}}"
            })
    void aStreamTheUpstreamEndsWithAnErrorEventIsReportedFailed(String errorEvent) {
        String sse = "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\","
                + "\"sequence_number\":1,\"delta\":\"Hi\"}\n\n" + errorEvent + "\n\n";
        upstream.server()
                .stubFor(post("/v1/responses")
                        .willReturn(aResponse()
                                .withHeader("Content-Type", "text/event-stream")
                                .withBody(sse)));
        try (ProxyEngine engine = engine()) {
            Answer a = send(
                    engine,
                    EngineFixture.post("/v1/responses", "{\"model\":\"gpt-4o\",\"stream\":true,\"input\":\"hi\"}"));
            assertThat(a.text()).isEqualTo(sse);
        }
        assertThat(recorder.calls).last().isEqualTo("finished 200 stream UPSTREAM_FAILED");
    }

    /**
     * A client that leaves while the upstream works, before the answer's headers, is a client gone (499, nginx's
     * "client closed request"), not the 502 the proxy makes of the upstream call its leaving aborted: that answer
     * reaches nobody, and counted as a 502 it reads as an upstream failure.
     */
    @Test
    void aClientGoneBeforeTheAnswerIsNoBadGateway() throws Exception {
        upstream.server()
                .stubFor(post("/v1/chat/completions")
                        .willReturn(aResponse()
                                .withHeader("Content-Type", "application/json")
                                .withBody("{}")
                                .withFixedDelay(3000)));
        try (ProxyEngine engine = engine()) {
            java.util.concurrent.CompletableFuture<ProxyResponse> answer =
                    engine.handle(EngineFixture.post("/v1/chat/completions", "{\"model\":\"gpt-4o\"}")
                            .build());
            org.awaitility.Awaitility.await()
                    .atMost(Duration.ofSeconds(10))
                    .until(() -> !upstream.server().getAllServeEvents().isEmpty());
            answer.cancel(true);
            org.awaitility.Awaitility.await()
                    .atMost(Duration.ofSeconds(10))
                    .until(() -> recorder.calls.stream().anyMatch(c -> c.startsWith("finished")));
        }
        assertThat(recorder.calls)
                .containsExactly(
                        "begin POST /v1/chat/completions",
                        "routed /v1/chat/completions gpt-4o",
                        "finished 499 plain CLIENT_GONE");
    }

    @Test
    void aClientThatGoesAwayIsReportedAsSuch() throws Exception {
        upstream.server()
                .stubFor(post("/v1/chat/completions")
                        .willReturn(aResponse()
                                .withHeader("Content-Type", "text/event-stream")
                                .withBody("data: {}\n\ndata: {}\n\n")
                                .withChunkedDribbleDelay(2, 2000)));
        try (ProxyEngine engine = engine()) {
            ProxyResponse r = engine.handle(EngineFixture.post("/v1/chat/completions", "{\"stream\":true}")
                            .build())
                    .get(30, TimeUnit.SECONDS);
            TestSubscriber client = new TestSubscriber(1);
            r.body().subscribe(client);
            client.awaitItems(1, Duration.ofSeconds(20));
            client.cancel();
        }
        assertThat(recorder.calls).contains("finished 200 stream CLIENT_GONE");
    }

    @Test
    void aFailingObserverNeitherFailsNorHangsTheRequest() {
        ProxyObserver broken = (method, path) -> new ProxyObserver.Observation() {
            @Override
            public void routed(String route, Optional<String> model) {
                throw new IllegalStateException("metrics backend down");
            }

            @Override
            public void finished(int status, boolean streamed, Outcome outcome, Duration duration) {
                throw new IllegalStateException("metrics backend down");
            }
        };
        try (ProxyEngine engine = ProxyEngine.builder(config(upstream.baseUrl()).build())
                .observer(broken)
                .build()) {
            assertThat(send(engine, get("/nope")).status()).isEqualTo(404);
        }
    }

    @Test
    void eachObserverCallAddsAnObserverAndAFailingOneKeepsTheNextFromNothing() {
        Recorder second = new Recorder();
        ProxyObserver broken = (method, path) -> {
            throw new IllegalStateException("metrics backend down");
        };
        try (ProxyEngine engine = ProxyEngine.builder(config(upstream.baseUrl()).build())
                .observer(recorder)
                .observer(broken)
                .observer(second)
                .build()) {
            assertThat(send(engine, get("/nope")).status()).isEqualTo(404);
        }
        List<String> expected = List.of("begin GET /nope", "routed unmatched -", "finished 404 plain COMPLETED");
        assertThat(recorder.calls).isEqualTo(expected);
        assertThat(second.calls).isEqualTo(expected);
    }

    @Test
    void aPolicysRefusalIsReportedWithItsReasonAndPolicyAndNoUpstreamCall() {
        ProxyConfig config = ProxySettings.from(Map.of(
                        "access.role-policies", "GUEST=guests,CHAT=chat",
                        "policies.guests.routes", "models",
                        "policies.chat.models", "gpt-4o-mini"))
                .applyTo(config(upstream.baseUrl()))
                .build();
        try (ProxyEngine engine = ProxyEngine.builder(config).observer(recorder).build()) {
            String chat = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}";
            assertThat(send(engine, as(EngineFixture.post("/v1/chat/completions", chat), "GUEST"))
                            .status())
                    .isEqualTo(403);
            assertThat(send(engine, as(EngineFixture.post("/v1/chat/completions", chat), "CHAT"))
                            .status())
                    .isEqualTo(403);
        }
        assertThat(recorder.calls)
                .containsExactly(
                        "begin POST /v1/chat/completions",
                        "refused route_not_allowed guests",
                        "routed /v1/chat/completions -",
                        "finished 403 plain COMPLETED",
                        "begin POST /v1/chat/completions",
                        "refused model_not_allowed chat",
                        "routed /v1/chat/completions -",
                        "finished 403 plain COMPLETED");
        assertThat(upstream.server().getAllServeEvents()).isEmpty();
    }

    @Test
    void aCallerWithoutAValidIdentityIsReportedWithTheReasonAndNoPolicy() {
        ProxyConfig config = ProxySettings.from(Map.of("access.anonymous", "deny"))
                .applyTo(config(upstream.baseUrl()))
                .build();
        try (ProxyEngine engine = ProxyEngine.builder(config).observer(recorder).build()) {
            assertThat(send(engine, get("/v1/models")).status()).isEqualTo(401);
            assertThat(send(engine, get("/v1/models").header("Authorization", "Bearer opk-not-a-key"))
                            .status())
                    .isEqualTo(401);
        }
        assertThat(recorder.calls)
                .filteredOn(c -> c.startsWith("refused"))
                .containsExactly("refused no_credential none", "refused malformed_key none");
        assertThat(upstream.server().getAllServeEvents()).isEmpty();
    }

    /** A request by a user of the host application with this role (the name is no business of metrics). */
    private static ProxyRequest.Builder as(ProxyRequest.Builder request, String role) {
        return request.user(new AuthenticatedUser("someone", role::equals));
    }

    @Test
    void unknownPathsAreReportedAsUnmatched() {
        try (ProxyEngine engine = engine()) {
            send(engine, get("/nope"));
        }
        assertThat(recorder.calls)
                .containsExactly("begin GET /nope", "routed unmatched -", "finished 404 plain COMPLETED");
    }
}
