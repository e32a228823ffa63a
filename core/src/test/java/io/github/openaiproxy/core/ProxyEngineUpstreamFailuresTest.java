package io.github.openaiproxy.core;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static io.github.openaiproxy.core.EngineFixture.CHAT;
import static io.github.openaiproxy.core.EngineFixture.config;
import static io.github.openaiproxy.core.EngineFixture.get;
import static io.github.openaiproxy.core.EngineFixture.post;
import static io.github.openaiproxy.core.EngineFixture.send;
import static io.github.openaiproxy.core.testing.Answer.parse;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.openaiproxy.core.testing.Answer;
import io.github.openaiproxy.core.upstream.UpstreamConfig.ClientKind;
import io.github.openaiproxy.testsupport.WireMockUpstream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/** Upstream errors and an upstream that cannot be reached or does not answer. */
@ParameterizedClass(name = "{0} client")
@EnumSource(
        value = ClientKind.class,
        names = {"JETTY", "JDK"})
class ProxyEngineUpstreamFailuresTest {
    /** Every case runs on both upstream clients. */
    @Parameter
    ClientKind client;

    @RegisterExtension
    static final WireMockUpstream upstream = new WireMockUpstream();

    /** The server key; OpenAI's 401 echoes its first 11 and last 4 characters. */
    private static final String KEY = "sk-proj-abcDEF0123456789ghijKLMN0123456789opqrSTUVwxyz";

    private static final String OPENAI_401 = "{\n  \"error\": {\n    \"message\": \"Incorrect API key provided:"
            + " sk-proj-abc********wxyz. You can find your API key at https://platform.openai.com/account/api-keys.\",\n"
            + "    \"type\": \"invalid_request_error\",\n    \"param\": null,\n    \"code\": \"invalid_api_key\"\n  }\n}\n";
    /** What the proxy says in place of a 401: nothing of the upstream's message, which echoes the key. */
    private static final String REFUSED = "The upstream API refused the proxy's API key";

    private static final String OPENAI_429 = "{\"error\":{\"message\":\"Rate limit reached for gpt-4o in organization"
            + " org-abc on requests per min (RPM): Limit 3, Used 3, Requested 1.\",\"type\":\"requests\","
            + "\"param\":null,\"code\":\"rate_limit_exceeded\"}}";

    private ProxyEngine engine;

    @AfterEach
    void close() {
        if (engine != null) {
            engine.close();
        }
    }

    private ProxyEngine engine() {
        engine = ProxyEngine.create(
                config(upstream.baseUrl(), client).apiKey(KEY).build());
        return engine;
    }

    private static void upstreamAnswers(int status, String body) {
        upstream.server()
                .stubFor(any(anyUrl())
                        .willReturn(aResponse()
                                .withStatus(status)
                                .withHeader("Content-Type", "application/json; charset=utf-8")
                                .withHeader("x-request-id", "req_err")
                                .withHeader("retry-after", "20")
                                .withBody(body)));
    }

    @Test
    void simpleRouteAnswersAnUpstream401WithAFixedMessageInTheSeedShape() {
        upstreamAnswers(401, OPENAI_401);

        Answer a = send(engine(), post("/", CHAT));

        JsonNode body = a.proxyError(401);
        assertThat(body.get("error").asText()).isEqualTo("OpenAI API Error");
        assertThat(body.get("message").asText()).isEqualTo("OpenAI API returned 401: " + REFUSED);
        assertThat(body.get("status").asInt()).isEqualTo(401);
        assertThat(body.size()).isEqualTo(3);
        assertThat(a.text()).doesNotContain("abc********wxyz").doesNotContain("Incorrect API key");
        assertThat(a.header("x-request-id")).isEqualTo("req_err");
    }

    @Test
    void v1RouteAnswersAnUpstream401WithAFixedMessageInOpenAisShape() {
        upstreamAnswers(401, OPENAI_401);

        Answer a = send(engine(), post("/v1/chat/completions", CHAT));

        assertThat(a.status()).isEqualTo(401);
        assertThat(a.text())
                .isEqualTo("{\"error\":{\"message\":\"" + REFUSED + ".\",\"type\":\"invalid_request_error\","
                        + "\"param\":null,\"code\":\"invalid_api_key\"}}");
        assertThat(a.header("Content-Type")).isEqualTo("application/json");
        assertThat(a.header("Content-Length"))
                .isEqualTo(Integer.toString(a.body().bytes().length));
        assertThat(a.header("x-request-id")).isEqualTo("req_err");
    }

    @Test
    void anUpstream403GetsAFixedMessageToo() {
        // OpenAI's 403s quote client text too ("Project ... does not have access to model `<model>`").
        upstreamAnswers(
                403,
                "{\"error\":{\"message\":\"Project `proj_x` does not have access to model `gpt-x`\","
                        + "\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"model_not_found\"}}");

        Answer v1 = send(engine(), post("/v1/chat/completions", CHAT));
        Answer simple = send(engine, post("/", CHAT));

        assertThat(v1.status()).isEqualTo(403);
        JsonNode error = parse(v1.text()).get("error");
        assertThat(error.get("message").asText())
                .isEqualTo("The upstream API denied the proxy's API key access to this request.");
        assertThat(error.get("type").asText()).isEqualTo("permission_error");
        assertThat(error.get("code").asText()).isEqualTo("permission_denied");
        assertThat(simple.proxyError(403).get("message").asText())
                .isEqualTo(
                        "OpenAI API returned 403: The upstream API denied the proxy's API key access to this request");
        assertThat(v1.text() + simple.text()).doesNotContain("gpt-x").doesNotContain("proj_x");
    }

    @Test
    void anUpstream401OnTheClientsOwnKeyDoesNotBlameTheServerKey() {
        engine = ProxyEngine.create(config(upstream.baseUrl(), client)
                .apiKey(KEY)
                .allowClientKey(true)
                .build());
        upstreamAnswers(401, OPENAI_401);

        Answer v1 =
                send(engine, post("/v1/chat/completions", CHAT).header("x-openai-key", "sk-client-0123456789abcdef"));
        Answer server = send(engine, post("/v1/chat/completions", CHAT));

        assertThat(parse(v1.text()).at("/error/message").asText())
                .isEqualTo("The upstream API refused the API key sent in x-openai-key.");
        assertThat(parse(server.text()).at("/error/message").asText()).isEqualTo(REFUSED + ".");
    }

    @Test
    void v1RouteRelaysOpenAisErrorJsonUnchanged() {
        upstreamAnswers(429, OPENAI_429);

        Answer a = send(engine(), post("/v1/chat/completions", CHAT));

        assertThat(a.status()).isEqualTo(429);
        assertThat(a.text()).isEqualTo(OPENAI_429);
        assertThat(a.header("retry-after")).isEqualTo("20");
        assertThat(a.header("x-request-id")).isEqualTo("req_err");
    }

    @Test
    void simpleRouteWrapsAServerError() {
        upstreamAnswers(500, "{\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\"}}");

        JsonNode body = send(engine(), post("/images/generations", "{\"prompt\":\"x\"}"))
                .proxyError(500);

        assertThat(body.get("error").asText()).isEqualTo("OpenAI API Error");
        assertThat(body.get("status").asInt()).isEqualTo(500);
        assertThat(body.get("message").asText()).startsWith("OpenAI API returned 500: {\"error\"");
    }

    @Test
    void upstreamRedirectIsNotHandedToTheClient() {
        upstream.server()
                .stubFor(any(anyUrl())
                        .willReturn(aResponse().withStatus(302).withHeader("Location", "https://evil.example/")));

        Answer a = send(engine(), get("/v1/models"));

        assertThat(a.proxyError(502).get("error").get("code").asText()).isEqualTo("upstream_unreachable");
        assertThat(a.headers().firstValue("Location")).isEmpty();
    }

    @Test
    void unreachableUpstreamIs502() throws IOException {
        engine = ProxyEngine.create(config(closedPort(), client).build());

        Answer seed = send(engine, post("/", CHAT));
        Answer openai = send(engine, post("/v1/chat/completions", CHAT));

        assertThat(seed.proxyError(502))
                .isEqualTo(parse("{\"error\":\"Bad Gateway\",\"message\":\"Could not reach the upstream API\"}"));
        assertThat(openai.proxyError(502).get("error").get("code").asText()).isEqualTo("upstream_unreachable");
    }

    @Test
    void upstreamSlowerThanTheResponseTimeoutIs504() throws IOException {
        // Accepts connections (the backlog does) but never answers.
        try (ServerSocket silent = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            URI base = URI.create("http://127.0.0.1:" + silent.getLocalPort());
            engine = ProxyEngine.create(config(base, client)
                    .upstream(config(base, client).build().upstream().withResponseTimeout(Duration.ofMillis(500)))
                    .build());

            Answer a = send(engine, post("/v1/chat/completions", CHAT));

            assertThat(a.proxyError(504))
                    .isEqualTo(parse("{\"error\":{\"message\":\"The upstream API did not answer in time\","
                            + "\"type\":\"server_error\",\"param\":null,\"code\":\"upstream_timeout\"}}"));
        }
    }

    private static URI closedPort() throws IOException {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        return URI.create("http://127.0.0.1:" + port);
    }
}
