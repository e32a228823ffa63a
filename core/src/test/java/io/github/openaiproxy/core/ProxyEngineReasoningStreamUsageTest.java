package io.github.openaiproxy.core;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static io.github.openaiproxy.core.EngineFixture.config;
import static io.github.openaiproxy.core.EngineFixture.send;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.testing.Answer;
import io.github.openaiproxy.core.usage.UsageRecord;
import io.github.openaiproxy.core.usage.ledger.LedgerConfig;
import io.github.openaiproxy.testsupport.WireMockUpstream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The OpenAI-compatible servers that serve reasoning models stream the model's thinking beside its answer, as
 * text the client receives and the upstream bills as output: {@code delta.reasoning_content} (DeepSeek's API,
 * SGLang, vLLM before 0.10) or {@code delta.reasoning} (vLLM, Ollama, Groq, OpenRouter, which also repeats it
 * in {@code delta.reasoning_details[].text}). A stream that ends without usage is estimated from the text
 * relayed, so the thinking counts as the answer would, and OpenRouter's two copies count once.
 */
class ProxyEngineReasoningStreamUsageTest {
    @RegisterExtension
    static final WireMockUpstream upstream = new WireMockUpstream();

    private static final String THOUGHT =
            "Okay, the user asks which of 9.11 and 9.8 is greater. Compare the tenths: 8 is more than 1, so 9.8";

    private static String chunk(String delta) {
        return "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"deepseek-reasoner\","
                + "\"choices\":[{\"index\":0,\"delta\":" + delta + ",\"finish_reason\":null}]}\n\n";
    }

    /** The thought in four chunks of the given delta shape ({@code %s} is the piece), then the end of the body. */
    private static String stream(String deltaShape) {
        StringBuilder s = new StringBuilder(chunk("{\"role\":\"assistant\",\"content\":\"\"}"));
        int step = THOUGHT.length() / 4 + 1;
        for (int i = 0; i < THOUGHT.length(); i += step) {
            s.append(chunk(deltaShape.replace("%s", THOUGHT.substring(i, Math.min(THOUGHT.length(), i + step)))));
        }
        return s.toString(); // the upstream stops here: no usage, no [DONE]
    }

    private UsageRecord meter(String body) {
        upstream.server().resetAll();
        upstream.server()
                .stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                        .willReturn(aResponse()
                                .withStatus(200)
                                .withHeader("Content-Type", "text/event-stream")
                                .withBody(body)));
        Queue<UsageRecord> ledger = new ConcurrentLinkedQueue<>();
        byte[] chat = ("{\"model\":\"deepseek-reasoner\",\"stream\":true,"
                        + "\"messages\":[{\"role\":\"user\",\"content\":\"9.11 or 9.8?\"}]}")
                .getBytes(StandardCharsets.UTF_8);
        try (ProxyEngine engine = ProxyEngine.builder(config(upstream.baseUrl())
                        .ledger(LedgerConfig.DEFAULTS.withStore(LedgerConfig.Store.MEMORY))
                        .build())
                .usageLedger(ledger::add)
                .build()) {
            Answer a = send(
                    engine,
                    ProxyRequest.builder("POST", "/v1/chat/completions")
                            .header("Content-Type", "application/json")
                            .header("Content-Length", Integer.toString(chat.length))
                            .remoteAddress("10.0.0.1")
                            .body(chat));
            assertThat(a.status()).isEqualTo(200);
            assertThat(a.text()).isEqualTo(body);
        }
        List<UsageRecord> rows = new ArrayList<>(ledger);
        assertThat(rows).hasSize(1);
        return rows.get(0);
    }

    @ParameterizedTest
    @CsvSource(
            delimiter = '|',
            value = {
                "DeepSeek, SGLang     | {\"reasoning_content\":\"%s\"}",
                "vLLM, Ollama, Groq   | {\"reasoning\":\"%s\"}",
                "OpenRouter           | {\"reasoning\":\"%s\",\"reasoning_details\":[{\"type\":\"reasoning.text\","
                        + "\"text\":\"%s\",\"format\":\"unknown\",\"index\":0}]}"
            })
    void aStreamEndingWithoutUsageCountsTheRelayedThinkingAsItsAnswerWouldCount(String servers, String deltaShape) {
        UsageRecord answer = meter(stream("{\"content\":\"%s\"}"));
        assertThat(answer.estimated()).isTrue();
        assertThat(answer.usage().outputTokens()).isGreaterThan(10);

        UsageRecord thinking = meter(stream(deltaShape));

        assertThat(thinking.estimated()).as(servers).isTrue();
        assertThat(thinking.usage().outputTokens())
                .as(servers)
                .isEqualTo(answer.usage().outputTokens());
        assertThat(thinking.usage().inputTokens())
                .as(servers)
                .isEqualTo(answer.usage().inputTokens())
                .isPositive();
    }
}
