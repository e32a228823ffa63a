package io.github.openaiproxy.core;

import static com.github.tomakehurst.wiremock.client.WireMock.anyRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static io.github.openaiproxy.core.EngineFixture.CHAT;
import static io.github.openaiproxy.core.EngineFixture.CHAT_COMPLETION;
import static io.github.openaiproxy.core.EngineFixture.config;
import static io.github.openaiproxy.core.EngineFixture.send;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.cors.CorsConfig;
import io.github.openaiproxy.core.cors.CorsPolicy;
import io.github.openaiproxy.core.error.ErrorStyle;
import io.github.openaiproxy.core.error.ProxyError;
import io.github.openaiproxy.core.http.AllowedHosts;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.internal.Bodies;
import io.github.openaiproxy.core.internal.HeaderMap;
import io.github.openaiproxy.core.keys.KeyPolicy;
import io.github.openaiproxy.core.keys.KeyResolver;
import io.github.openaiproxy.core.observe.ProxyObserver;
import io.github.openaiproxy.core.relay.ResponseFactory;
import io.github.openaiproxy.core.route.Route;
import io.github.openaiproxy.core.route.RouteKind;
import io.github.openaiproxy.core.testing.Answer;
import io.github.openaiproxy.testsupport.WireMockUpstream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The pipeline's order, each step answering or passing on its own, and the host application's steps. */
class RequestPipelineTest {
    @RegisterExtension
    static final WireMockUpstream upstream = new WireMockUpstream();

    private static final Route CHAT_ROUTE = new Route("/", RouteKind.CHAT_OR_IMAGE, Set.of("POST"), true);
    private static final Route V1 =
            new Route("/v1/models", RouteKind.PASS_THROUGH, Set.of("GET", "POST", "DELETE"), false);
    private static final ProxyResponse PASSED = ProxyResponse.of(299, new HeaderMap().build(), Bodies.empty());

    private ProxyEngine engine;

    @AfterEach
    void close() {
        if (engine != null) {
            engine.close();
        }
    }

    @Test
    void eachKindOfRouteRunsItsStepsInTheDocumentedOrder() {
        engine = ProxyEngine.builder(config(upstream.baseUrl()).build())
                .route(ProxyEngineCustomRouteTest.ECHO_CHAT)
                .build();

        assertThat(names(engine.steps("/")))
                .containsExactly(
                        "Recover",
                        "AllowedHost",
                        "Cors",
                        "Preflight",
                        "Origin",
                        "WebSocketUpgrade",
                        "Method",
                        "IdentifyStep",
                        "ContentType",
                        "ContentEncoding",
                        "ContentLength",
                        "ReadBody",
                        "Simple",
                        "AuthorizeStep",
                        "LimitStep",
                        "ResolveKey",
                        "Sessions",
                        "SendUpstream");
        assertThat(names(engine.steps("/v1/models")))
                .containsExactly(
                        "Recover",
                        "AllowedHost",
                        "Cors",
                        "Preflight",
                        "Origin",
                        "WebSocketUpgrade",
                        "Method",
                        "Query",
                        "RelayedHeaders",
                        "IdentifyStep",
                        "ContentType",
                        "ContentLength",
                        "AuthorizeStep",
                        "LimitStep",
                        "PassThrough",
                        "ResolveKey",
                        "SendUpstream");
        assertThat(names(engine.steps("/echo-chat")))
                .containsExactly(
                        "Recover",
                        "AllowedHost",
                        "Cors",
                        "Preflight",
                        "Origin",
                        "WebSocketUpgrade",
                        "Method",
                        "IdentifyStep",
                        "ContentType",
                        "ContentEncoding",
                        "ContentLength",
                        "ReadBody",
                        "AuthorizeStep",
                        "CountedRoutes",
                        "Custom");
        assertThat(names(engine.steps("/nowhere")))
                .containsExactly("Recover", "AllowedHost", "Cors", "WebSocketUpgrade", "NotFound");
    }

    @Test
    void withNamedUpstreamsTheSimpleChainRoutesByModelAfterTheAuthorizeStepAsThePassThroughChainDoes() {
        Map<String, String> s = new java.util.HashMap<>();
        s.put("api-key", EngineFixture.SERVER_KEY);
        s.put("base-url", upstream.baseUrl().toString());
        s.put("upstreams.local.kind", "compatible");
        s.put("upstreams.local.base-url", "http://127.0.0.1:1/v1");
        s.put("upstreams.local.models", "llama*");
        engine = ProxyEngine.builder(
                        io.github.openaiproxy.core.config.ProxySettings.from(s).toConfig())
                .build();

        List<String> simple = names(engine.steps("/"));
        assertThat(simple.subList(simple.indexOf("AuthorizeStep"), simple.size()))
                .containsExactly(
                        "AuthorizeStep", "RouteUpstream", "LimitStep", "ResolveKey", "Sessions", "SendUpstream");
        List<String> passThrough = names(engine.steps("/v1/models"));
        assertThat(passThrough.subList(passThrough.indexOf("AuthorizeStep"), passThrough.indexOf("PassThrough")))
                .containsExactly("AuthorizeStep", "RouteUpstream", "LimitStep");
    }

    @Test
    void hostStepsRunAtTheirNamedPositions() {
        RequestStep around = (ctx, next) -> next.proceed(ctx);
        RequestStep before = (ctx, next) -> next.proceed(ctx);
        engine = ProxyEngine.builder(config(upstream.baseUrl()).build())
                .step(RequestStep.Position.BEFORE_UPSTREAM, before)
                .step(RequestStep.Position.AFTER_RESPONSE_HEADERS, around)
                .build();

        List<RequestStep> simple = engine.steps("/");
        assertThat(simple.get(0)).isSameAs(around);
        assertThat(names(simple.subList(simple.indexOf(before) - 1, simple.size())))
                .containsExactly("ResolveKey", before.getClass().getSimpleName(), "Sessions", "SendUpstream");
        List<RequestStep> passThrough = engine.steps("/v1/models");
        assertThat(passThrough.get(0)).isSameAs(around);
        assertThat(passThrough.get(passThrough.size() - 2)).isSameAs(before);
        assertThat(engine.steps("/nowhere").get(0)).isSameAs(around);
    }

    @Test
    void eachCheckAnswersWhatItRefusesAndPassesTheRest() {
        CorsPolicy cors = new CorsPolicy(CorsConfig.builder()
                .allowedOrigins(List.of("https://app.example"))
                .build());
        RequestStep host = new RequestChecks.AllowedHost(AllowedHosts.of(List.of("proxy.example")));
        assertAnswers(host, get("/v1/models").header("Host", "evil.example"), V1, 403);
        assertPasses(host, get("/v1/models").header("Host", "proxy.example"), V1);

        RequestStep corsStep = new RequestChecks.Cors(cors);
        assertPasses(corsStep, get("/v1/models").header("Origin", "https://evil.example"), V1);

        assertAnswers(RequestChecks.NotFound.STEP, get("/nowhere"), null, 404);

        RequestStep preflight = new RequestChecks.Preflight(cors);
        assertAnswers(preflight, ProxyRequest.builder("OPTIONS", "/v1/models"), V1, 204);
        assertPasses(preflight, get("/v1/models"), V1);

        RequestContext denied = context(get("/v1/models"), V1);
        denied.verdict = CorsPolicy.Verdict.DENIED;
        assertThat(status(RequestChecks.Origin.STEP.handle(denied, PASS))).isEqualTo(403);
        assertPasses(RequestChecks.Origin.STEP, get("/v1/models"), V1);

        ProxyRequest.Builder handshake =
                get("/v1/models").header("Connection", "keep-alive, Upgrade").header("Upgrade", "WebSocket");
        assertAnswers(RequestChecks.WebSocketUpgrade.STEP, handshake, V1, 501);
        // Upgrade without Connection: upgrade is no handshake (the header is to be ignored), nor is a POST.
        assertPasses(RequestChecks.WebSocketUpgrade.STEP, get("/v1/models").header("Upgrade", "websocket"), V1);
        assertPasses(
                RequestChecks.WebSocketUpgrade.STEP,
                chat("application/json", CHAT).header("Connection", "Upgrade").header("Upgrade", "websocket"),
                CHAT_ROUTE);
        assertPasses(
                RequestChecks.WebSocketUpgrade.STEP,
                get("/v1/models").header("Connection", "Upgrade").header("Upgrade", "h2c"),
                V1);

        assertAnswers(RequestChecks.Method.STEP, ProxyRequest.builder("PUT", "/v1/models"), V1, 405);
        assertPasses(RequestChecks.Method.STEP, get("/v1/models"), V1);

        assertAnswers(RequestChecks.Query.STEP, get("/v1/models").rawQuery("a=%zz"), V1, 400);
        assertPasses(RequestChecks.Query.STEP, get("/v1/models").rawQuery("a=%20"), V1);
        assertAnswers(RequestChecks.Query.STEP, get("/v1/models").rawQuery("a=\u00e9"), V1, 400);

        assertAnswers(
                RequestChecks.RelayedHeaders.STEP, get("/v1/models").header("Idempotency-Key", "k\u00e9"), V1, 400);
        assertPasses(RequestChecks.RelayedHeaders.STEP, get("/v1/models").header("OpenAI-Beta", "a=v2\tx"), V1);

        assertAnswers(RequestChecks.ContentType.STEP, chat("text/plain", CHAT), CHAT_ROUTE, 415);
        assertPasses(RequestChecks.ContentType.STEP, chat("application/json", CHAT), CHAT_ROUTE);

        assertAnswers(
                RequestChecks.ContentEncoding.STEP,
                chat("application/json", CHAT).header("Content-Encoding", "gzip"),
                CHAT_ROUTE,
                415);
        assertPasses(
                RequestChecks.ContentEncoding.STEP,
                chat("application/json", CHAT).header("Content-Encoding", "identity"),
                CHAT_ROUTE);

        RequestStep length = new RequestChecks.ContentLength(new BodyLimits(10, 10));
        assertAnswers(length, chat("application/json", CHAT).header("Content-Length", "11"), CHAT_ROUTE, 413);
        assertPasses(length, chat("application/json", "{}").header("Content-Length", "2"), CHAT_ROUTE);

        RequestStep read = new RouteHandlers.ReadBody(10);
        assertAnswers(read, chat("application/json", CHAT), CHAT_ROUTE, 413);
        RequestContext small = context(chat("application/json", "{}"), CHAT_ROUTE);
        assertThat(status(read.handle(small, PASS))).isEqualTo(299);
        assertThat(new String(small.body, StandardCharsets.UTF_8)).isEqualTo("{}");

        RequestStep key = new RouteHandlers.ResolveKey(new KeyResolver(KeyPolicy.none()));
        assertAnswers(key, chat("application/json", CHAT), CHAT_ROUTE, 500);
    }

    @Test
    void aStepBeforeTheUpstreamCanRefuseAndTheUpstreamSeesNothing() {
        upstream.server().stubFor(post("/v1/chat/completions").willReturn(okJson(CHAT_COMPLETION)));
        AtomicInteger seen = new AtomicInteger();
        engine = ProxyEngine.builder(config(upstream.baseUrl()).build())
                .step(RequestStep.Position.BEFORE_UPSTREAM, (ctx, next) -> {
                    seen.incrementAndGet();
                    // The body is read and normalized by now: the step sees the model the call would use.
                    if (ctx.model().orElse("").startsWith("gpt-4")) {
                        return ctx.respond(new ProxyError(
                                403,
                                "Forbidden",
                                "This model is not for you",
                                "permission_error",
                                "model_refused",
                                "model",
                                null,
                                Map.of()));
                    }
                    return next.proceed(ctx);
                })
                .build();

        Answer refused = send(
                engine,
                EngineFixture.post(
                        "/", "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}"));
        assertThat(refused.status()).isEqualTo(403);
        assertThat(refused.json().at("/message").asText()).isEqualTo("This model is not for you");
        assertThat(upstream.server().findAll(anyRequestedFor(anyUrl()))).isEmpty();

        Answer allowed = send(engine, EngineFixture.post("/", CHAT));
        assertThat(allowed.status()).isEqualTo(200);
        assertThat(upstream.server().findAll(anyRequestedFor(anyUrl()))).hasSize(1);
        assertThat(seen).hasValue(2);
    }

    @Test
    void aStepAfterTheResponseHeadersCanAddAHeaderToEveryAnswer() {
        upstream.server().stubFor(post("/v1/chat/completions").willReturn(okJson(CHAT_COMPLETION)));
        engine = ProxyEngine.builder(config(upstream.baseUrl()).build())
                .step(
                        RequestStep.Position.AFTER_RESPONSE_HEADERS,
                        (ctx, next) -> next.proceed(ctx).thenApply(r -> r.withHeader("X-Served-Route", ctx.route())))
                .build();

        Answer relayed = send(engine, EngineFixture.post("/", CHAT));
        assertThat(relayed.status()).isEqualTo(200);
        assertThat(relayed.header("X-Served-Route")).isEqualTo("/");
        assertThat(relayed.json().at("/choices/0/message/content").asText()).isEqualTo("Hi!");

        Answer notFound = send(engine, EngineFixture.get("/nowhere"));
        assertThat(notFound.status()).isEqualTo(404);
        assertThat(notFound.header("X-Served-Route")).isEqualTo("unmatched");
    }

    private static final RequestStep.Chain PASS = ctx -> CompletableFuture.completedFuture(PASSED);

    private static void assertAnswers(RequestStep step, ProxyRequest.Builder request, Route route, int status) {
        assertThat(status(step.handle(context(request, route), FAIL)))
                .as(step.getClass().getSimpleName() + " answers")
                .isEqualTo(status);
    }

    private static void assertPasses(RequestStep step, ProxyRequest.Builder request, Route route) {
        assertThat(status(step.handle(context(request, route), PASS)))
                .as(step.getClass().getSimpleName() + " passes")
                .isEqualTo(PASSED.status());
    }

    private static final RequestStep.Chain FAIL = ctx -> {
        throw new AssertionError("the step passed the request on");
    };

    private static RequestContext context(ProxyRequest.Builder request, Route route) {
        RequestContext ctx = new RequestContext(
                request.build(), ProxyObserver.Observation.NONE, false, false, new RequestInFlight(), null);
        ctx.route = route;
        ctx.style = route == null ? ErrorStyle.OPENAI : route.errorStyle();
        ctx.verdict = CorsPolicy.Verdict.NOT_CORS;
        ctx.responses = new ResponseFactory(ctx.style, Map.of());
        return ctx;
    }

    private static int status(CompletableFuture<ProxyResponse> answer) {
        return answer.join().status();
    }

    private static ProxyRequest.Builder get(String path) {
        return ProxyRequest.builder("GET", path);
    }

    private static ProxyRequest.Builder chat(String contentType, String json) {
        return ProxyRequest.builder("POST", "/")
                .header("Content-Type", contentType)
                .body(json.getBytes(StandardCharsets.UTF_8));
    }

    private static List<String> names(List<RequestStep> steps) {
        return steps.stream().map(s -> s.getClass().getSimpleName()).toList();
    }
}
