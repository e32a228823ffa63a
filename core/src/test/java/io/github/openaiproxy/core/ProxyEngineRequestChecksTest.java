package io.github.openaiproxy.core;

import static io.github.openaiproxy.core.EngineFixture.CHAT;
import static io.github.openaiproxy.core.EngineFixture.config;
import static io.github.openaiproxy.core.EngineFixture.get;
import static io.github.openaiproxy.core.EngineFixture.post;
import static io.github.openaiproxy.core.EngineFixture.send;
import static io.github.openaiproxy.core.testing.Answer.parse;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.testing.Answer;
import io.github.openaiproxy.testsupport.WireMockUpstream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Flow;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** Requests the proxy answers itself, without calling the upstream. */
class ProxyEngineRequestChecksTest {
    @RegisterExtension
    static final WireMockUpstream upstream = new WireMockUpstream();

    private ProxyEngine engine;

    @AfterEach
    void noUpstreamCall() {
        assertThat(upstream.server().getAllServeEvents()).as("upstream calls").isEmpty();
        engine.close();
    }

    private ProxyEngine engine(ProxyConfig.Builder config) {
        engine = ProxyEngine.create(config.build());
        return engine;
    }

    private ProxyEngine engine() {
        return engine(config(upstream.baseUrl()));
    }

    @Test
    void unknownPathUnderV1IsAnsweredInOpenAiShape() {
        Answer a = send(engine(), post("/v1/unknown", CHAT));

        assertThat(a.proxyError(404))
                .isEqualTo(parse("{\"error\":{\"message\":\"No route for POST /v1/unknown\","
                        + "\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"unknown_url\"}}"));
    }

    @Test
    void unknownPathElsewhereIsAnsweredInSeedShape() {
        Answer a = send(engine(), post("/chat", CHAT));

        assertThat(a.proxyError(404))
                .isEqualTo(parse("{\"error\":\"Not Found\",\"message\":\"No route for POST /chat\"}"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"%zz=1", "a=%", "a=%4", "a=b c", "a=<b>"})
    void aPassThroughQueryThatIsNotValidlyEncodedIs400(String rawQuery) {
        Answer a = send(engine(), get("/v1/models").rawQuery(rawQuery));

        JsonNode error = a.proxyError(400).get("error");
        assertThat(error.get("type").asText()).isEqualTo("invalid_request_error");
        assertThat(error.get("message").asText()).contains("query string");
    }

    @Test
    void wrongMethodOnASimpleRouteIs405WithAllow() {
        Answer a = send(engine(), get("/"));

        assertThat(a.proxyError(405))
                .isEqualTo(parse("{\"error\":\"Method Not Allowed\","
                        + "\"message\":\"Method GET is not allowed here; allowed: OPTIONS, POST\"}"));
        assertThat(a.header("Allow")).isEqualTo("OPTIONS, POST");
    }

    @Test
    void wrongMethodOnAPassThroughRouteIs405InOpenAiShape() {
        Answer a = send(engine(), ProxyRequest.builder("DELETE", "/v1/chat/completions"));

        JsonNode error = a.proxyError(405).get("error");
        assertThat(error.get("code").asText()).isEqualTo("method_not_allowed");
        assertThat(a.header("Allow")).isEqualTo("OPTIONS, POST");
    }

    @ParameterizedTest
    @CsvSource({
        "/, text/plain",
        "/images/generations, application/x-www-form-urlencoded",
        "/v1/chat/completions, text/plain"
    })
    void bodyNotDeclaredAsJsonIs415(String path, String contentType) {
        Answer a = send(
                engine(),
                ProxyRequest.builder("POST", path)
                        .header("Content-Type", contentType)
                        .body(CHAT.getBytes(StandardCharsets.UTF_8)));

        JsonNode body = a.proxyError(415);
        assertThat(body.toString()).contains("Content-Type must be application/json, got " + contentType);
    }

    @Test
    void declaredContentLengthOverTheLimitIs413WithoutReadingTheBody() {
        NeverSubscribed body = new NeverSubscribed();

        Answer a = send(
                engine(config(upstream.baseUrl()).maxBodySize(1024)),
                ProxyRequest.builder("POST", "/")
                        .header("Content-Type", "application/json")
                        .header("Content-Length", "1025")
                        .body(body));

        assertThat(a.proxyError(413))
                .isEqualTo(parse("{\"error\":\"Payload Too Large\","
                        + "\"message\":\"Request body exceeds the limit of 1024 bytes\"}"));
        assertThat(body.subscribed).isFalse();
    }

    @Test
    void actualBodyOverTheLimitIs413() {
        String big = "{\"messages\":[{\"role\":\"user\",\"content\":\"" + "x".repeat(2000) + "\"}]}";

        Answer a = send(engine(config(upstream.baseUrl()).maxBodySize(1024)), post("/v1/chat/completions", big));

        assertThat(a.proxyError(413).get("error").get("code").asText()).isEqualTo("request_too_large");
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', textBlock = """
            null     | null
            []       | an array
            [{}]     | an array
            "hello"  | a string
            42       | a number
            true     | a boolean
            """)
    void jsonThatIsNotAnObjectIs400(String body, String found) {
        Answer a = send(engine(), post("/", body));

        assertThat(a.proxyError(400))
                .isEqualTo(parse("{\"error\":\"Invalid request body\","
                        + "\"message\":\"Request body must be a JSON object, got " + found + "\"}"));
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "",
                " ",
                "{",
                "{\"messages\":[}",
                "{'messages':[]}",
                "{\"messages\":[]}}",
                "{\"messages\":[]} {}",
                "{\"messages\":[]} trailing",
                "{\"messages\":[],\"messages\":[]}",
                "{\"temperature\":NaN,\"messages\":[]}"
            })
    void bodyThatIsNotExactlyOneJsonValueIs400(String body) {
        Answer a = send(engine(), post("/", body));

        assertThat(a.proxyError(400))
                .isEqualTo(parse("{\"error\":\"Invalid JSON\",\"message\":\"Request body is not valid JSON\"}"));
    }

    @Test
    void invalidBodyOnAnImageRouteNamesTheField() {
        Answer a = send(engine(), post("/images/generations", "{\"prompt\":\"x\",\"model\":\"dall-e-3\",\"n\":3}"));

        assertThat(a.proxyError(400))
                .isEqualTo(parse("{\"error\":\"Invalid image request\",\"message\":\"n must be 1 for dall-e-3\","
                        + "\"param\":\"n\"}"));
    }

    @Test
    void chatBodyWithoutMessagesIsRefusedWithTheSeedMessage() {
        Answer a = send(engine(), post("/", "{\"model\":\"gpt-4o\"}"));

        assertThat(a.proxyError(400).get("message").asText())
                .isEqualTo("messages field is required and must be an array");
    }

    @Test
    void bodyIsValidatedBeforeTheKeyIsChecked() {
        ProxyEngine withoutKey = engine(ProxyConfig.builder()
                .upstream(config(upstream.baseUrl()).build().upstream()));

        Answer a = send(withoutKey, post("/", "{\"messages\":\"hello\"}"));

        assertThat(a.proxyError(400).get("param").asText()).isEqualTo("messages");
    }

    @Test
    void plainOptionsSaysWhatTheRouteAccepts() {
        Answer a = send(engine(), ProxyRequest.builder("OPTIONS", "/v1/models"));

        assertThat(a.status()).isEqualTo(204);
        assertThat(a.header("Allow")).isEqualTo("GET, HEAD, OPTIONS");
        assertThat(a.body().bytes()).isEmpty();
    }

    @Test
    void hasRouteTellsAFilterWhichPathsToHandle() {
        ProxyEngine e = engine();

        assertThat(e.hasRoute("/")).isTrue();
        assertThat(e.hasRoute("/v1/models/gpt-4o")).isTrue();
        assertThat(e.hasRoute("/v1/models/..")).isFalse();
        assertThat(e.hasRoute("/index.html")).isFalse();
    }

    /** A body publisher that records whether anyone subscribed. */
    private static final class NeverSubscribed implements Flow.Publisher<ByteBuffer> {
        volatile boolean subscribed;

        @Override
        public void subscribe(Flow.Subscriber<? super ByteBuffer> subscriber) {
            subscribed = true;
            subscriber.onSubscribe(new Flow.Subscription() {
                @Override
                public void request(long n) {}

                @Override
                public void cancel() {}
            });
        }
    }
}
