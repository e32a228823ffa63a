package io.github.openaiproxy.servlet;

import static io.github.openaiproxy.servlet.support.OpenAiFixtures.CHAT_COMPLETION;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.servlet.support.Http;
import io.github.openaiproxy.servlet.support.StubUpstream;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * With a token limit the proxy estimates each request from {@code max_tokens} and {@code n}. A short but huge
 * number there ({@code 1e999999999}, valid JSON) is an estimate over any limit: 400, at once, never a 500 and
 * never seconds of CPU spent expanding the number.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class HugeNumbersEstimateHttpTest {
    final AtomicInteger upstreamCalls = new AtomicInteger();
    StubUpstream upstream;
    TomcatProxy proxy;

    @BeforeEach
    void start() {
        upstream = StubUpstream.start(ex -> {
            upstreamCalls.incrementAndGet();
            ex.respond(200, "application/json", CHAT_COMPLETION.getBytes(StandardCharsets.UTF_8));
        });
        ProxyConfig config = ProxySettings.from(Map.of("policies.anonymous.tokens-per-minute", "100000"))
                .applyTo(ProxyConfig.builder()
                        .apiKey("sk-server-key-123456")
                        .upstream(UpstreamConfig.defaults().withBaseUrl(upstream.baseUrl())))
                .build();
        proxy = TomcatProxy.servlet(config);
    }

    @AfterEach
    void stop() {
        if (proxy != null) {
            proxy.close();
        }
        if (upstream != null) {
            upstream.close();
        }
    }

    private HttpResponse<String> chat(String path, String extra) {
        return Http.postJson(
                proxy.uri(path),
                "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]" + extra + "}");
    }

    @Test
    void aHugeExponentInMaxTokensOrNIsAnEstimateOverTheLimitNotA500() {
        for (String path : new String[] {"/", "/v1/chat/completions"}) {
            for (String extra : new String[] {
                ",\"max_tokens\":1e999999999",
                ",\"max_completion_tokens\":1E+999999999",
                ",\"max_tokens\":10,\"n\":1e999999999",
            }) {
                HttpResponse<String> r = chat(path, extra);
                assertThat(r.statusCode()).as(path + " " + extra).isEqualTo(400);
                assertThat(r.headers().firstValue("Content-Type"))
                        .hasValueSatisfying(ct -> assertThat(ct).startsWith("application/json"));
                assertThat(r.body()).as(path + " " + extra).contains("tokens-per-minute");
            }
        }
        assertThat(upstreamCalls).hasValue(0);
    }

    @Test
    void aHugeButRepresentableExponentIsAnsweredAtOnce() {
        // 1e99999999 is 332 million bits as a BigInteger: expanding it takes the better part of a minute.
        long start = System.nanoTime();
        HttpResponse<String> r = chat("/", ",\"max_tokens\":1e99999999");
        long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);

        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(r.body()).contains("tokens-per-minute");
        assertThat(millis).as("ms to answer").isLessThan(5_000);
        // A tiny non-whole number is not a whole number of tokens, whatever its exponent.
        HttpResponse<String> tiny = chat("/", ",\"max_tokens\":1e-99999999");
        assertThat(tiny.statusCode()).isEqualTo(400);
        assertThat(tiny.body()).contains("whole number");
        assertThat(upstreamCalls).hasValue(0);
    }
}
