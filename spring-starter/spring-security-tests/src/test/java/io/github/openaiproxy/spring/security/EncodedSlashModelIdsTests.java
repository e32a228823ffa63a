package io.github.openaiproxy.spring.security;

import static com.github.tomakehurst.wiremock.client.WireMock.anyRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.equalTo;
import static com.github.tomakehurst.wiremock.client.WireMock.getRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.WireMockServer;
import com.openai.client.OpenAIClient;
import com.openai.models.models.Model;
import io.github.openaiproxy.core.access.ProxyKeys;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.context.annotation.Import;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * The README's advice for model ids with a slash, followed exactly in an application behind Spring Security
 * (Tomcat's {@code encodedSolidusHandling="passthrough"} and a {@code StrictHttpFirewall} that allows an encoded
 * slash): openai-java's {@code %2F} reaches the upstream as a raw slash, and no traversal gets past the proxy.
 */
@SpringBootTest(classes = SecuredApplication.class, webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
@Import({EncodedSlashes.TomcatPassthrough.class, EncodedSlashes.Firewall.class})
class EncodedSlashModelIdsTests {
    static final WireMockServer upstream = EncodedSlashes.startUpstream();
    static final ProxyKeys.NewKey key = ProxyKeys.generate();

    @LocalServerPort
    int port;

    @DynamicPropertySource
    static void properties(DynamicPropertyRegistry registry) {
        EncodedSlashes.properties(registry, upstream, key);
    }

    @AfterAll
    static void stopUpstream() {
        upstream.stop();
    }

    @BeforeEach
    void forgetCalls() {
        upstream.resetRequests();
    }

    @Test
    void openAiJavaRetrievesAModelWhoseIdHasASlash() {
        OpenAIClient sdk = EncodedSlashes.sdk(port, key);
        try {
            Model model = sdk.models().retrieve(EncodedSlashes.LLAMA);

            assertThat(model.id()).isEqualTo(EncodedSlashes.LLAMA);
        } finally {
            sdk.close();
        }
        upstream.verify(
                1,
                getRequestedFor(urlEqualTo("/v1/models/" + EncodedSlashes.LLAMA))
                        .withHeader("Authorization", equalTo("Bearer " + EncodedSlashes.SERVER_KEY)));
    }

    @Test
    void aRawSlashAsTheNodeSdkSendsItWorksToo() throws Exception {
        HttpResponse<String> r = EncodedSlashes.send(port, EncodedSlashes.MODELS + EncodedSlashes.LLAMA, key);

        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        upstream.verify(1, getRequestedFor(urlEqualTo("/v1/models/" + EncodedSlashes.LLAMA)));
    }

    @Test
    void anEncodedPercentStaysRefusedBySpringSecurity() throws Exception {
        HttpResponse<String> r =
                EncodedSlashes.send(port, EncodedSlashes.MODELS + "meta-llama%252FLlama-3.1-8B-Instruct", key);

        // The firewall's refusal, on this application's secured error page: HTTP basic's challenge.
        assertThat(r.statusCode()).isEqualTo(401);
        assertThat(r.headers().firstValue("WWW-Authenticate"))
                .hasValueSatisfying(v -> assertThat(v).startsWith("Basic"));
        upstream.verify(0, anyRequestedFor(anyUrl()));
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "meta-llama%2F..%2Ffiles",
                "meta-llama%2F..%2F..%2Ffiles",
                "..%2Ffiles",
                "%2E%2E%2Ffiles",
                "meta-llama%2F%2e%2e%2Ffiles",
                "meta-llama/../files",
                "meta-llama/../../chat/completions",
                "..",
                "%2E%2E",
                "meta-llama%252F..%252Ffiles",
                "meta-llama%2F%2Ffiles",
                "meta-llama%5C..%5Cfiles",
            })
    void noTraversalReachesTheUpstream(String id) throws Exception {
        HttpResponse<String> r = EncodedSlashes.send(port, EncodedSlashes.MODELS + id, key);

        // 404 from the proxy (no route), or refused before it: 400 by Tomcat, 401 by Spring Security (its firewall's
        // refusal on this application's secured error page).
        assertThat(r.statusCode()).as(r.body()).isIn(400, 401, 404);
        upstream.verify(0, anyRequestedFor(anyUrl()));
    }
}
