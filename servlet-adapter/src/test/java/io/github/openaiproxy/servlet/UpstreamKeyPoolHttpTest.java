package io.github.openaiproxy.servlet;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.containing;
import static com.github.tomakehurst.wiremock.client.WireMock.equalTo;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.testing.Upstream;
import io.github.openaiproxy.servlet.support.Http;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * An upstream with three keys over real HTTP: requests spread over the usable keys, a 429 rests its key for
 * the upstream's retry-after, a 401 takes its key out, and with every key resting the upstream refuses at once
 * without calling the upstream.
 */
class UpstreamKeyPoolHttpTest {
    private static final String K1 = "sk-pool-key-one-0123456789abcdefghij";
    private static final String K2 = "sk-pool-key-two-0123456789abcdefghij";
    private static final String K3 = "sk-pool-key-three-0123456789abcdefgh";

    @RegisterExtension
    static WireMockExtension pooled = Upstream.extension();

    TomcatProxy proxy;

    @BeforeEach
    void start() {
        ProxyConfig config = ProxySettings.from(Map.of(
                        "upstreams.pooled.kind",
                        "openai",
                        "upstreams.pooled.base-url",
                        pooled.baseUrl(),
                        "upstreams.pooled.keys",
                        K1 + "," + K2 + "," + K3,
                        "upstreams.pooled.models",
                        "gpt-*"))
                .toConfig();
        proxy = TomcatProxy.servlet(config);
        pooled.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .willReturn(okJson("{\"model\":\"gpt-4o\",\"choices\":[]}")));
    }

    @AfterEach
    void stop() {
        proxy.close();
    }

    private HttpResponse<String> chat() {
        return Http.postJson(proxy.uri("/v1/chat/completions"), "{\"model\":\"gpt-4o\",\"messages\":[]}");
    }

    private static Map<String, Integer> keysUsed(List<LoggedRequest> requests) {
        Map<String, Integer> used = new TreeMap<>();
        for (LoggedRequest r : requests) {
            used.merge(r.getHeader("Authorization").substring("Bearer ".length()), 1, Integer::sum);
        }
        return used;
    }

    private void limitKeyOneFor(String retryAfterHeader, String value) {
        pooled.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .withHeader("Authorization", equalTo("Bearer " + K1))
                .willReturn(aResponse()
                        .withStatus(429)
                        .withHeader(retryAfterHeader, value)
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"error\":{\"message\":\"Rate limit reached\",\"type\":\"requests\"}}")));
    }

    @Test
    void keysNeverLimitedShareTheLoad() {
        for (int i = 0; i < 6; i++) {
            assertThat(chat().statusCode()).isEqualTo(200);
        }
        assertThat(keysUsed(Upstream.requests(pooled))).isEqualTo(Map.of(K1, 2, K2, 2, K3, 2));
    }

    @Test
    void aKeyThatGets429RestsAndTheOtherTwoShareTheLoad() {
        limitKeyOneFor("retry-after", "60");
        HttpResponse<String> limited = chat();
        // Key one's 429 is the key's limit: another key is tried at once, before any byte reached the client.
        assertThat(limited.statusCode()).isEqualTo(200);
        assertThat(limited.headers().firstValue("OpenAI-Proxy-Attempts")).contains("pooled 429, pooled 200");
        for (int i = 0; i < 5; i++) {
            assertThat(chat().statusCode()).isEqualTo(200);
        }

        List<LoggedRequest> requests = Upstream.requests(pooled);
        assertThat(keysUsed(requests.subList(0, 1))).isEqualTo(Map.of(K1, 1));
        // Key one rests for 60 s: the other two share the six answers.
        assertThat(keysUsed(requests.subList(1, requests.size()))).isEqualTo(Map.of(K2, 3, K3, 3));
    }

    @Test
    void aKeyRefusedWith401IsTakenOut() {
        pooled.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .withHeader("Authorization", equalTo("Bearer " + K1))
                .willReturn(aResponse()
                        .withStatus(401)
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"error\":{\"message\":\"Incorrect API key provided: " + K1 + "\"}}")));

        // A revoked key is the proxy's problem, not the caller's: its request goes on to the next key at once (a 401
        // is answered before the model runs), instead of the SDKs' AuthenticationError, which they never retry.
        HttpResponse<String> refused = chat();
        assertThat(refused.statusCode()).as(refused.body()).isEqualTo(200);
        assertThat(refused.headers().firstValue("OpenAI-Proxy-Attempts")).contains("pooled 401, pooled 200");
        assertThat(refused.body()).doesNotContain(K1);
        for (int i = 0; i < 3; i++) {
            assertThat(chat().statusCode()).isEqualTo(200);
        }
        assertThat(keysUsed(Upstream.requests(pooled))).isEqualTo(Map.of(K1, 1, K2, 2, K3, 2));
    }

    /**
     * Every key revoked: each request takes out the first key that refuses it, and relays the 401 of a second (its
     * fixed message, no key); once every key is out, 503.
     */
    @Test
    void withEveryKeyRefusedTheLast401IsRelayedAndNoKeyIsTriedTwice() {
        pooled.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .willReturn(aResponse()
                        .withStatus(401)
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"error\":{\"message\":\"Incorrect API key provided\"}}")));

        // A request two keys refuse may be the reason (a model the keys may not use): it takes out only the first.
        for (int i = 0; i < 3; i++) {
            HttpResponse<String> refused = chat();
            assertThat(refused.statusCode()).isEqualTo(401);
            assertThat(refused.headers().firstValue("OpenAI-Proxy-Attempts"))
                    .contains(i < 2 ? "pooled 401, pooled 401" : "pooled 401");
            assertThat(refused.body()).doesNotContain(K1).doesNotContain(K2).doesNotContain(K3);
        }
        assertThat(Upstream.requests(pooled)).hasSize(5);
        // Now every key is out: refused at once, with no call, and told not to retry.
        HttpResponse<String> after = chat();
        assertThat(after.statusCode()).isEqualTo(503);
        assertThat(after.headers().firstValue("x-should-retry")).contains("false");
        assertThat(Upstream.requests(pooled)).hasSize(5);
    }

    /**
     * The last usable key refused, with a fallback configured: the request that finds it out takes the fallback, as
     * every request after it does (no key left), instead of being the one caller answered 401.
     */
    @Test
    void theLastKeyRefusedTakesTheFallbackLikeTheRequestsAfterIt() {
        proxy.close();
        proxy = TomcatProxy.servlet(ProxySettings.from(Map.of(
                        "upstreams.pooled.kind", "openai",
                        "upstreams.pooled.base-url", pooled.baseUrl(),
                        "upstreams.pooled.keys", K1,
                        "upstreams.pooled.models", "gpt-*",
                        "upstreams.pooled.fallback", "backup",
                        "upstreams.backup.kind", "compatible",
                        "upstreams.backup.base-url", pooled.baseUrl() + "/backup/v1"))
                .toConfig());
        pooled.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .willReturn(aResponse()
                        .withStatus(401)
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"error\":{\"message\":\"Incorrect API key provided\"}}")));
        pooled.stubFor(post(urlPathEqualTo("/backup/v1/chat/completions"))
                .willReturn(okJson("{\"model\":\"gpt-4o\",\"choices\":[]}")));

        HttpResponse<String> first = chat();
        assertThat(first.statusCode()).as(first.body()).isEqualTo(200);
        assertThat(first.headers().firstValue("OpenAI-Proxy-Attempts")).contains("pooled 401, backup 200");
        HttpResponse<String> next = chat();
        assertThat(next.statusCode()).isEqualTo(200);
        assertThat(next.headers().firstValue("OpenAI-Proxy-Attempts")).contains("pooled no-key, backup 200");
    }

    /**
     * A 401 that some request draws from every key (here an unrecognised one for one model): a hostile caller must not
     * empty the pool with one request by having each key refuse it in turn. Only the first key is taken out.
     */
    @Test
    void oneRequestEveryKeyRefusesTakesOutOneKeyNotThePool() {
        pooled.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .withRequestBody(containing("gpt-private"))
                .willReturn(aResponse()
                        .withStatus(401)
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"error\":{\"message\":\"Unauthorized\"}}")));

        HttpResponse<String> hostile =
                Http.postJson(proxy.uri("/v1/chat/completions"), "{\"model\":\"gpt-private\",\"messages\":[]}");
        assertThat(hostile.statusCode()).isEqualTo(401);
        assertThat(hostile.headers().firstValue("OpenAI-Proxy-Attempts")).contains("pooled 401, pooled 401");
        for (int i = 0; i < 4; i++) {
            assertThat(chat().statusCode()).isEqualTo(200);
        }
        Map<String, Integer> after = keysUsed(Upstream.requests(pooled).subList(2, 6));
        assertThat(after).as("two keys still in").hasSize(2).containsValues(2, 2);
    }

    /**
     * LiteLLM's 401 for a model its virtual key may not use ({@code key_model_access_denied}) is about the model the
     * caller named, as OpenAI's missing_scope is about the route: it is relayed and takes no key out.
     */
    @Test
    void aLiteLlmModelAccessDenied401TakesNoKeyOut() {
        pooled.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .withRequestBody(containing("gpt-private"))
                .willReturn(aResponse()
                        .withStatus(401)
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"error\":{\"message\":\"key not allowed to access model. This key can only"
                                + " access models=['gpt-4o']. Tried to access gpt-private\",\"type\":"
                                + "\"key_model_access_denied\",\"param\":\"model\",\"code\":\"401\"}}")));

        for (int i = 0; i < 3; i++) {
            HttpResponse<String> refused =
                    Http.postJson(proxy.uri("/v1/chat/completions"), "{\"model\":\"gpt-private\",\"messages\":[]}");
            assertThat(refused.statusCode()).isEqualTo(401);
            assertThat(refused.headers().firstValue("OpenAI-Proxy-Attempts")).contains("pooled 401");
        }
        for (int i = 0; i < 3; i++) {
            assertThat(chat().statusCode()).isEqualTo(200);
        }
        assertThat(keysUsed(Upstream.requests(pooled).subList(3, 6))).isEqualTo(Map.of(K1, 1, K2, 1, K3, 1));
    }

    @Test
    void aMissingScope401OnOneRouteTakesNoKeyOutSoNoCallerCanEmptyThePool() {
        // A restricted key (least privilege) that may call chat but not the Responses API: OpenAI answers 401
        // missing_scope. That is about the route the caller picked, not the key: were it taken out, any caller
        // could empty the pool with three POST /v1/responses and leave every user with 503 until a restart.
        pooled.stubFor(post(urlPathEqualTo("/v1/responses"))
                .willReturn(aResponse()
                        .withStatus(401)
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"error\":{\"message\":\"You have insufficient permissions for this operation."
                                + " Missing scopes: api.responses.write. Check that you have the correct role in your"
                                + " organization (Reader, Writer, Owner) and project (Member, Owner), and if you're"
                                + " using a restricted API key, that it has the necessary scopes.\",\"type\":"
                                + "\"invalid_request_error\",\"param\":null,\"code\":\"missing_scope\"}}")));

        for (int i = 0; i < 3; i++) {
            HttpResponse<String> refused =
                    Http.postJson(proxy.uri("/v1/responses"), "{\"model\":\"gpt-4o\",\"input\":\"hi\"}");
            assertThat(refused.statusCode()).isEqualTo(401);
            assertThat(refused.body()).doesNotContain(K1, K2, K3);
        }
        for (int i = 0; i < 3; i++) {
            assertThat(chat().statusCode()).as("chat, which every key may call").isEqualTo(200);
        }
        assertThat(keysUsed(Upstream.requests(pooled).subList(3, 6))).isEqualTo(Map.of(K1, 1, K2, 1, K3, 1));
    }

    @Test
    void aKeyRefusedWith403ForOneModelStaysForTheOthers() {
        // OpenAI's 403 for a model the organization may not use yet: about that request, not the key.
        pooled.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .withRequestBody(containing("gpt-image-1"))
                .willReturn(aResponse()
                        .withStatus(403)
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"error\":{\"message\":\"Your organization must be verified\"}}")));

        for (int i = 0; i < 3; i++) {
            assertThat(Http.postJson(proxy.uri("/v1/chat/completions"), "{\"model\":\"gpt-image-1\",\"messages\":[]}")
                            .statusCode())
                    .isEqualTo(403);
        }
        for (int i = 0; i < 3; i++) {
            assertThat(chat().statusCode()).isEqualTo(200);
        }
        assertThat(keysUsed(Upstream.requests(pooled))).isEqualTo(Map.of(K1, 2, K2, 2, K3, 2));
    }

    @Test
    void aRequestTooLargeForTheKeysTokensPerMinuteIsRelayedWithoutRestingAnyKey() {
        // OpenAI's 429 for one request over the whole TPM limit: no key would take it, and resting them all for it
        // would refuse everyone else.
        pooled.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .withRequestBody(containing("HUGE"))
                .willReturn(aResponse()
                        .withStatus(429)
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"error\":{\"message\":\"Request too large for gpt-4o in organization org-1 on"
                                + " tokens per min (TPM): Limit 30000, Requested 45000.\",\"type\":\"tokens\","
                                + "\"code\":\"rate_limit_exceeded\"}}")));

        HttpResponse<String> huge =
                Http.postJson(proxy.uri("/v1/chat/completions"), "{\"model\":\"gpt-4o\",\"messages\":[\"HUGE\"]}");
        assertThat(huge.statusCode()).isEqualTo(429);
        assertThat(huge.body()).contains("Request too large");
        assertThat(huge.headers().firstValue("OpenAI-Proxy-Attempts")).contains("pooled 429");
        for (int i = 0; i < 3; i++) {
            assertThat(chat().statusCode()).isEqualTo(200);
        }
        List<LoggedRequest> requests = Upstream.requests(pooled);
        assertThat(requests).hasSize(4);
        assertThat(keysUsed(requests)).hasSize(3); // every key still in turn
    }

    @Test
    void withEveryKeyRestingTheUpstreamRefusesAtOnce() {
        pooled.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .willReturn(aResponse()
                        .withStatus(429)
                        .withHeader("retry-after", "60")
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"error\":{\"message\":\"Rate limit reached\"}}")));
        // Each key in turn (two retries), then the last 429 is relayed.
        HttpResponse<String> limited = chat();
        assertThat(limited.statusCode()).isEqualTo(429);
        assertThat(limited.headers().firstValue("OpenAI-Proxy-Attempts"))
                .contains("pooled 429, pooled 429, pooled 429");

        HttpResponse<String> r = chat();

        assertThat(r.statusCode()).isEqualTo(503);
        assertThat(r.body()).contains("upstream_unavailable");
        assertThat(r.headers().firstValue("OpenAI-Proxy-Upstream")).contains("pooled");
        assertThat(Upstream.requests(pooled)).hasSize(3);
    }
}
