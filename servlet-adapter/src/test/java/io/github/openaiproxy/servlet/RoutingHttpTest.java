package io.github.openaiproxy.servlet;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static io.github.openaiproxy.core.testing.ProxyAssertions.assertOpenAiError;
import static io.github.openaiproxy.servlet.support.RawAssertions.assertOpenAiError;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.github.openaiproxy.core.testing.Upstream;
import io.github.openaiproxy.servlet.support.Http;
import io.github.openaiproxy.servlet.support.RawHttp;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Routing where the container takes part: HEAD (the container drops the body) and a query that is not
 * validly encoded, exactly as sent on the wire. The routing table (chat or image on {@code POST /}, the
 * pass-through set, 404 and 405) runs in process in core's ProxyEngineRoutingTableTest.
 */
class RoutingHttpTest {
    @RegisterExtension
    static WireMockExtension upstream = Upstream.extension();

    static TomcatProxy proxy;

    static final String UPSTREAM_ANSWER =
            "{ \"id\" : \"resp-1\",  \"n\": 1.50, \"text\": \"gr\u00fc\u00df \ud83d\ude00\" }";

    @BeforeAll
    static void start() {
        proxy = TomcatProxy.servlet(Upstream.config(upstream).build());
    }

    @AfterAll
    static void stop() {
        proxy.close();
    }

    @BeforeEach
    void answerEverything() {
        upstream.stubFor(any(anyUrl())
                .willReturn(aResponse()
                        .withStatus(200)
                        .withHeader("Content-Type", "application/json")
                        .withBody(UPSTREAM_ANSWER.getBytes(StandardCharsets.UTF_8))));
    }

    @Test
    void aPassThroughQueryThatIsNotValidlyEncodedIs400NotAServerError() {
        RawHttp.Response r = RawHttp.exchange(
                proxy.port(),
                "GET /v1/models?%zz=%%&a=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n",
                new byte[0]);

        assertThat(assertOpenAiError(r, 400, "invalid_request_error", "invalid_request")
                        .path("message")
                        .textValue())
                .contains("query string");
        Upstream.assertNoCalls(upstream);

        // The simple routes never forward the query, so there it does not matter.
        byte[] chat = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}".getBytes(StandardCharsets.UTF_8);
        RawHttp.Response simple = RawHttp.exchange(
                proxy.port(),
                "POST /?%zz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nConnection: close\r\n",
                chat);
        assertThat(simple.status()).as(simple.bodyText()).isEqualTo(200);
    }

    @ParameterizedTest(name = "HEAD {0}")
    @CsvSource({"/v1/models", "/v1/models/gpt-4o", "/v1/models?limit=2"})
    void headOnAGetRouteAnswersLikeGetWithoutABody(String path) {
        HttpResponse<String> get = Http.call("GET", proxy.uri(path), null);
        HttpResponse<String> head = Http.call("HEAD", proxy.uri(path), null);

        assertThat(get.statusCode()).isEqualTo(200);
        assertThat(head.statusCode()).isEqualTo(200);
        assertThat(head.body()).isEmpty();
        assertThat(head.headers().firstValue("Content-Type"))
                .isEqualTo(get.headers().firstValue("Content-Type"));
        assertThat(head.headers().firstValue("Content-Length"))
                .contains(Integer.toString(get.body().getBytes(StandardCharsets.UTF_8).length));
        // The upstream is asked with GET: HEAD is the proxy's to answer, and OpenAI documents no HEAD.
        assertThat(Upstream.requests(upstream))
                .extracting(com.github.tomakehurst.wiremock.verification.LoggedRequest::getMethod)
                .extracting(Object::toString)
                .containsExactly("GET", "GET");
    }

    @ParameterizedTest(name = "HEAD {0}")
    @CsvSource({"/", "/v1/chat/completions"})
    void headOnAPostRouteIs405(String path) {
        HttpResponse<String> r = Http.call("HEAD", proxy.uri(path), null);

        assertThat(r.statusCode()).isEqualTo(405);
        assertThat(r.headers().firstValue("Allow")).contains("OPTIONS, POST");
        assertThat(r.body()).isEmpty();
        Upstream.assertNoCalls(upstream);
    }
}
