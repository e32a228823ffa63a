package io.github.openaiproxy.core;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static io.github.openaiproxy.core.EngineFixture.config;
import static io.github.openaiproxy.core.EngineFixture.send;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.testing.Answer;
import io.github.openaiproxy.core.usage.UsageRecord;
import io.github.openaiproxy.core.usage.ledger.LedgerConfig;
import io.github.openaiproxy.testsupport.WireMockUpstream;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A simple-route stream whose upstream answers 200 with a whole JSON completion (it ignored {@code stream}) is a 502
 * for the client; the upstream did the work (and bills it) all the same. The call is recorded as failed with the
 * upstream's status, as the other failures are, and charged its input, estimated, as a call whose client left before
 * the answer: refunded, it would be free for every upstream that ignores {@code stream}.
 */
class ProxyEngineUnexpectedStreamAnswerTest {
    @RegisterExtension
    static final WireMockUpstream upstream = new WireMockUpstream();

    private static final String COMPLETION = "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1,"
            + "\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hi!\"},"
            + "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":3,\"total_tokens\":12}}";

    @Test
    void aJsonAnswerToAStreamIsAFailedCallChargedItsInput() {
        upstream.server()
                .stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                        .willReturn(aResponse()
                                .withStatus(200)
                                .withHeader("Content-Type", "application/json")
                                .withBody(COMPLETION)));
        Queue<UsageRecord> ledger = new ConcurrentLinkedQueue<>();
        byte[] request = "{\"model\":\"gpt-4o\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}"
                .getBytes(StandardCharsets.UTF_8);
        ProxyConfig cfg = ProxySettings.from(Map.of("policies.anonymous.tokens-per-minute", "100000"))
                .applyTo(config(upstream.baseUrl()).ledger(LedgerConfig.DEFAULTS.withStore(LedgerConfig.Store.MEMORY)))
                .build();
        try (ProxyEngine engine =
                ProxyEngine.builder(cfg).usageLedger(ledger::add).build()) {
            Answer a = send(
                    engine,
                    ProxyRequest.builder("POST", "/")
                            .header("Content-Type", "application/json")
                            .header("Content-Length", Integer.toString(request.length))
                            .remoteAddress("10.0.0.1")
                            .body(request));
            assertThat(a.status()).isEqualTo(502);
            long afterFirst = remainingTokens(a);
            Answer next = send(
                    engine,
                    ProxyRequest.builder("POST", "/")
                            .header("Content-Type", "application/json")
                            .header("Content-Length", Integer.toString(request.length))
                            .remoteAddress("10.0.0.1")
                            .body(request));
            // The same reservation again: less is left only if the first call was charged.
            assertThat(remainingTokens(next)).isLessThan(afterFirst);
        }
        assertThat(ledger).first().satisfies(r -> {
            assertThat(r.outcome()).isEqualTo(UsageRecord.Outcome.UPSTREAM_FAILED);
            assertThat(r.upstreamStatus()).isEqualTo(200);
            assertThat(r.proxyStatus()).isEqualTo(502);
            assertThat(r.estimated()).isTrue();
            assertThat(r.usage().inputTokens()).isPositive();
            assertThat(r.usage().outputTokens()).isZero();
        });
    }

    private static long remainingTokens(Answer a) {
        return Long.parseLong(
                a.headers().firstValue("x-ratelimit-remaining-tokens").orElseThrow());
    }
}
