package io.github.openaiproxy.servlet;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static io.github.openaiproxy.core.testing.Upstream.SERVER_KEY;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.github.openaiproxy.core.testing.Upstream;
import io.github.openaiproxy.servlet.support.Http;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * An upstream error that spells the key with JSON escapes ({@code \u002d}) is masked as a client
 * decodes it: text masking alone would miss it, and the client's JSON parser would hand it the key.
 */
class EscapedKeyMaskingHttpTest {
    @RegisterExtension
    static WireMockExtension upstream = Upstream.extension();

    static final ObjectMapper JSON = new ObjectMapper();
    static TomcatProxy proxy;

    @BeforeAll
    static void start() {
        proxy = TomcatProxy.servlet(Upstream.config(upstream).build());
    }

    @AfterAll
    static void stop() {
        proxy.close();
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"/v1/chat/completions", "/"})
    void aKeySpelledWithJsonEscapesNeverReachesTheClient(String path) throws Exception {
        String escaped = "\\u0073" + SERVER_KEY.substring(1).replace("-", "\\u002d");
        upstream.stubFor(any(anyUrl())
                .willReturn(aResponse()
                        .withStatus(400)
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"error\":{\"message\":\"bad thing with " + escaped
                                + "\",\"type\":\"invalid_request_error\","
                                + "\"param\":null,\"code\":null}}")));

        HttpResponse<String> r = Http.postJson(
                proxy.uri(path), "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");

        assertThat(r.statusCode()).isEqualTo(400);
        JsonNode body = JSON.readTree(r.body());
        String decoded = body.toString()
                + body.path("error").path("message").asText()
                + body.path("message").asText();
        assertThat(decoded)
                .doesNotContain(SERVER_KEY)
                .doesNotContain("serverKey")
                .contains("[redacted]");
        assertThat(r.body()).doesNotContain("serverKey");
    }
}
