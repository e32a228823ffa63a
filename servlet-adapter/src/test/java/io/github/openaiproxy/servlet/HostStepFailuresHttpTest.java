package io.github.openaiproxy.servlet;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static io.github.openaiproxy.core.testing.ProxyAssertions.assertNoStackTrace;
import static io.github.openaiproxy.core.testing.ProxyAssertions.assertOpenAiError;
import static io.github.openaiproxy.core.testing.ProxyAssertions.assertSeedError;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.RequestStep;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.cors.CorsConfig;
import io.github.openaiproxy.core.error.ProxyError;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.testing.Upstream;
import io.github.openaiproxy.servlet.support.Http;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A host application's step that breaks its contract (returns no future, or a future of no response) gets the
 * client the proxy's JSON 500, as a step that throws does: not the container's empty error page, nor an
 * answer that never comes.
 */
class HostStepFailuresHttpTest {
    @RegisterExtension
    static WireMockExtension upstream = Upstream.extension();

    static final String CHAT = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

    @BeforeEach
    void answerEverything() {
        upstream.stubFor(any(anyUrl())
                .willReturn(aResponse()
                        .withStatus(200)
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"ok\":true}")));
    }

    @ParameterizedTest
    @EnumSource(RequestStep.Position.class)
    void aStepThatReturnsNoFutureIsA500Json(RequestStep.Position position) {
        assertInternalErrors(position, (context, next) -> null);
    }

    @ParameterizedTest
    @EnumSource(RequestStep.Position.class)
    void aStepWhoseFutureCompletesWithoutAResponseIsA500Json(RequestStep.Position position) {
        assertInternalErrors(position, (context, next) -> CompletableFuture.completedFuture(null));
    }

    @ParameterizedTest
    @EnumSource(RequestStep.Position.class)
    void aStepThatThrowsIsA500Json(RequestStep.Position position) {
        assertInternalErrors(position, (context, next) -> {
            throw new IllegalStateException("a bug in the host's step");
        });
    }

    /**
     * A 500 is an answer like the others: the page's browser may read it (CORS headers), and a host step that
     * decorates every answer sees it.
     */
    @Test
    void aFailedStepsAnswerCarriesTheCorsHeadersAndPassesTheStepsAroundThePipeline() {
        ProxyEngine engine = ProxyEngine.builder(Upstream.config(upstream)
                        .cors(CorsConfig.builder()
                                .origins(List.of("https://chat.example.com"))
                                .build())
                        .build())
                .step(RequestStep.Position.BEFORE_UPSTREAM, (context, next) -> {
                    throw new IllegalStateException("a bug in the host's step");
                })
                .step(
                        RequestStep.Position.AFTER_RESPONSE_HEADERS,
                        (context, next) -> next.proceed(context).thenApply(r -> r.withHeader("X-Served-By", "proxy")))
                .build();
        try (TomcatProxy proxy = TomcatProxy.servlet(engine)) {
            for (String path : List.of("/", "/v1/chat/completions")) {
                HttpResponse<String> r = Http.send(Http.request(proxy.uri(path))
                        .timeout(Duration.ofSeconds(5))
                        .header("Content-Type", "application/json")
                        .header("Origin", "https://chat.example.com")
                        .POST(HttpRequest.BodyPublishers.ofString(CHAT))
                        .build());
                assertThat(r.statusCode()).as(path).isEqualTo(500);
                assertThat(r.headers().firstValue("Access-Control-Allow-Origin"))
                        .as(path)
                        .hasValue("https://chat.example.com");
                assertThat(r.headers().firstValue("X-Served-By")).as(path).hasValue("proxy");
            }
        }
        Upstream.assertNoCalls(upstream);
    }

    /**
     * A host step around the whole pipeline that fails, before it passes the request on or after, gets the page the
     * same readable 500 as a step further in: with the CORS headers of an allowed origin, none for another.
     */
    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void aFailedStepAroundThePipelineIsA500WithTheCorsHeaders(boolean afterTheAnswer) {
        RequestStep failing = afterTheAnswer
                ? (context, next) -> next.proceed(context).thenApply(r -> {
                    throw new IllegalStateException("a bug in the host's decorator");
                })
                : (context, next) -> {
                    throw new IllegalStateException("a bug in the host's step");
                };
        ProxyEngine engine = ProxyEngine.builder(Upstream.config(upstream)
                        .cors(CorsConfig.builder()
                                .origins(List.of("https://chat.example.com"))
                                .build())
                        .build())
                .step(RequestStep.Position.AFTER_RESPONSE_HEADERS, failing)
                .build();
        try (TomcatProxy proxy = TomcatProxy.servlet(engine)) {
            for (String path : List.of("/", "/v1/chat/completions", "/no/such/route")) {
                HttpResponse<String> allowed = post(proxy, path, "https://chat.example.com");
                assertThat(allowed.statusCode()).as(path).isEqualTo(500);
                assertThat(allowed.headers().firstValue("Content-Type"))
                        .as(path)
                        .hasValue("application/json");
                assertThat(allowed.headers().firstValue("Access-Control-Allow-Origin"))
                        .as(path)
                        .hasValue("https://chat.example.com");
                assertNoStackTrace(allowed.body());
                HttpResponse<String> other = post(proxy, path, "https://evil.example.com");
                assertThat(other.statusCode()).as(path).isEqualTo(500);
                assertThat(other.headers().firstValue("Access-Control-Allow-Origin"))
                        .as(path)
                        .isEmpty();
            }
        }
    }

    /**
     * A step that passes the request on twice ran what follows twice, the upstream call included: the second
     * {@code proceed} is refused (the JSON 500), the upstream is called once, and the first answer, which the step
     * dropped, ends and gives back what it holds (here the client's only concurrent upstream call). On a
     * pass-through route the first call was left waiting for a body the answered exchange no longer read: it kept
     * the permit (the next request's first {@code proceed} got 429), and on the simple route the first pipeline
     * waited forever for the rest of the body. Each path runs twice, so a permit kept by either shows.
     */
    @ParameterizedTest
    @EnumSource(RequestStep.Position.class)
    void aStepThatPassesTheRequestOnTwiceIsA500AndOneUpstreamCall(RequestStep.Position position) {
        AtomicReference<CompletableFuture<ProxyResponse>> first = new AtomicReference<>();
        ProxyEngine engine = ProxyEngine.builder(Upstream.config(upstream)
                        .maxConcurrentUpstreamCallsPerClient(1)
                        .build())
                .step(position, (context, next) -> {
                    first.set(next.proceed(context));
                    return next.proceed(context);
                })
                .build();
        try (TomcatProxy proxy = TomcatProxy.servlet(engine)) {
            for (String path : List.of("/", "/v1/chat/completions", "/", "/v1/chat/completions")) {
                upstream.resetRequests();
                first.set(null);
                HttpResponse<String> r = post(proxy, path);
                assertThat(r.statusCode()).as(path).isEqualTo(500);
                assertThat(r.headers().firstValue("Content-Type")).as(path).hasValue("application/json");
                assertNoStackTrace(r.body());
                assertThat(first.get()).as("the step passed the request on").isNotNull();
                // The first pipeline ends, however: its answer (the upstream's, or the failure of a call the
                // answered request cancelled) is dropped, and the permit comes back. A 429 is a permit kept.
                assertThat(first.get().handle((answer, error) -> answer == null ? 0 : answer.status()))
                        .as(path + ": the first pipeline's end")
                        .succeedsWithin(Duration.ofSeconds(5))
                        .isNotEqualTo(429);
                quietly(300); // a second upstream call would come within it
                assertThat(upstream.getAllServeEvents().size()).as(path).isLessThanOrEqualTo(1);
            }
        }
    }

    /**
     * A host step that retries a refusal (here the 401 of a caller without a credential) passed the request on a
     * second time, and the pipeline went on after the step that refused it: past the identity check, to the
     * upstream. It is the proxy's 500 now, and the upstream sees nothing.
     */
    @Test
    void aStepThatRetriesARefusalGetsA500NotTheStepsAfterTheRefusal() {
        ProxyEngine engine = ProxyEngine.builder(ProxySettings.from(Map.of("access.anonymous", "deny"))
                        .applyTo(Upstream.config(upstream))
                        .build())
                .step(
                        RequestStep.Position.AFTER_RESPONSE_HEADERS,
                        (context, next) -> next.proceed(context)
                                .thenCompose(r -> r.status() == 401 ? next.proceed(context) : done(r)))
                .build();
        try (TomcatProxy proxy = TomcatProxy.servlet(engine)) {
            for (String path : List.of("/", "/v1/chat/completions")) {
                HttpResponse<String> r = post(proxy, path);
                assertThat(r.statusCode()).as(path).isEqualTo(500);
                assertNoStackTrace(r.body());
            }
        }
        Upstream.assertNoCalls(upstream);
    }

    /**
     * The context a step is given was the pipeline's cursor too (it implemented {@link RequestStep.Chain}): a step
     * that retried a refusal through it, past {@code next}'s once-only check, went on after the identity check, to
     * the upstream. The context is no chain any more: the refusal stands, and the upstream sees nothing.
     */
    @Test
    void aStepCannotRetryARefusalThroughItsContext() {
        ProxyEngine engine = ProxyEngine.builder(ProxySettings.from(Map.of("access.anonymous", "deny"))
                        .applyTo(Upstream.config(upstream))
                        .build())
                .step(
                        RequestStep.Position.AFTER_RESPONSE_HEADERS,
                        (context, next) -> next.proceed(context)
                                .thenCompose(r -> r.status() == 401 && (Object) context instanceof RequestStep.Chain c
                                        ? c.proceed(context)
                                        : done(r)))
                .build();
        try (TomcatProxy proxy = TomcatProxy.servlet(engine)) {
            for (String path : List.of("/", "/v1/chat/completions")) {
                assertThat(post(proxy, path).statusCode()).as(path).isEqualTo(401);
            }
        }
        Upstream.assertNoCalls(upstream);
    }

    /**
     * Whatever a step tries to pass the request on with, {@code next} twice or its context, the upstream is called at
     * most once for the request.
     */
    @ParameterizedTest
    @EnumSource(RequestStep.Position.class)
    void aStepReachesTheUpstreamAtMostOnceWhateverItCalls(RequestStep.Position position) throws Exception {
        ProxyEngine engine = ProxyEngine.builder(Upstream.config(upstream).build())
                .step(position, (context, next) -> {
                    CompletableFuture<ProxyResponse> first = next.proceed(context);
                    for (int i = 0; i < 3; i++) {
                        try {
                            if ((Object) context instanceof RequestStep.Chain c) {
                                c.proceed(context);
                            }
                            next.proceed(context);
                        } catch (RuntimeException refused) {
                            // what the step is told when it may not pass the request on again
                        }
                    }
                    return first;
                })
                .build();
        try (TomcatProxy proxy = TomcatProxy.servlet(engine)) {
            for (String path : List.of("/", "/v1/chat/completions")) {
                upstream.resetRequests();
                HttpResponse<String> r = post(proxy, path);
                assertThat(r.statusCode()).as(path).isEqualTo(200);
                awaitUpstreamCalls(1);
                assertThat(upstream.getAllServeEvents()).as(path).hasSize(1);
            }
        }
    }

    /**
     * A step that answered the request itself but kept {@code next} and called it later, after the answer was sent,
     * ran the rest of the pipeline then: the upstream call nobody would read, on a request the container may have
     * recycled for another client. It is refused at once now, and nothing runs.
     */
    @ParameterizedTest
    @EnumSource(RequestStep.Position.class)
    void aKeptChainCalledAfterTheAnswerIsRefusedAndRunsNothing(RequestStep.Position position) throws Exception {
        AtomicReference<Runnable> later = new AtomicReference<>();
        ProxyEngine engine = ProxyEngine.builder(Upstream.config(upstream).build())
                .step(position, (context, next) -> {
                    later.set(() -> next.proceed(context));
                    return context.respond(ProxyError.originNotAllowed());
                })
                .build();
        try (TomcatProxy proxy = TomcatProxy.servlet(engine)) {
            for (String path : List.of("/", "/v1/chat/completions")) {
                assertThat(post(proxy, path).statusCode()).as(path).isEqualTo(403);
                CompletableFuture<Throwable> refusal = CompletableFuture.supplyAsync(() -> {
                    try {
                        later.get().run();
                        return null;
                    } catch (RuntimeException e) {
                        return e;
                    }
                });
                assertThat(refusal.get(5, TimeUnit.SECONDS)).as(path).isInstanceOf(IllegalStateException.class);
            }
            // A call the refused proceed had started would reach the upstream within this.
            Thread.sleep(300);
        }
        Upstream.assertNoCalls(upstream);
    }

    private static <T> CompletableFuture<T> done(T value) {
        return CompletableFuture.completedFuture(value);
    }

    /** Waits (up to 5 s) for the upstream to have seen this many calls. */
    private static void awaitUpstreamCalls(int calls) throws InterruptedException {
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (upstream.getAllServeEvents().size() < calls && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
    }

    /**
     * Waits (up to 5 s) for the answer of the first {@code proceed}, which the step dropped: with or without an
     * upstream call (the request may end before it), it comes once that call is over. Polling the upstream for a call
     * instead waited out the whole 5 s whenever none came, spinning a core.
     */
    private static void quietly(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static HttpResponse<String> post(TomcatProxy proxy, String path, String origin) {
        return Http.send(Http.request(proxy.uri(path))
                .timeout(Duration.ofSeconds(5))
                .header("Content-Type", "application/json")
                .header("Origin", origin)
                .POST(HttpRequest.BodyPublishers.ofString(CHAT))
                .build());
    }

    private static void assertInternalErrors(RequestStep.Position position, RequestStep step) {
        ProxyEngine engine = ProxyEngine.builder(Upstream.config(upstream).build())
                .step(position, step)
                .build();
        // Its own words: an earlier test's call that reaches the upstream late (a loaded machine) is not this one's.
        String marker = "internal error " + position + " " + System.nanoTime();
        String chat = CHAT.replace("\"hi\"", "\"" + marker + "\"");
        try (TomcatProxy proxy = TomcatProxy.servlet(engine)) {
            HttpResponse<String> simple = postChat(proxy, "/", chat);
            assertSeedError(simple, 500, "Internal Server Error");
            assertNoStackTrace(simple.body());
            HttpResponse<String> passThrough = postChat(proxy, "/v1/chat/completions", chat);
            assertOpenAiError(passThrough, 500, "server_error", "internal_error");
            assertNoStackTrace(passThrough.body());
        }
        assertThat(upstream.getAllServeEvents())
                .as("requests that reached the upstream")
                .noneMatch(e -> e.getRequest().getBodyAsString().contains(marker));
    }

    private static HttpResponse<String> post(TomcatProxy proxy, String path) {
        return postChat(proxy, path, CHAT);
    }

    private static HttpResponse<String> postChat(TomcatProxy proxy, String path, String chat) {
        // Short: a response that never comes is the failure this test looks for.
        return Http.send(Http.request(proxy.uri(path))
                .timeout(Duration.ofSeconds(5))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(chat))
                .build());
    }
}
