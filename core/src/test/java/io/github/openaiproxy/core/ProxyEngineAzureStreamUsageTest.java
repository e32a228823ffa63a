package io.github.openaiproxy.core;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathMatching;
import static io.github.openaiproxy.core.EngineFixture.config;
import static io.github.openaiproxy.core.EngineFixture.send;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.internal.Json;
import io.github.openaiproxy.core.testing.Answer;
import io.github.openaiproxy.core.usage.UsageRecord;
import io.github.openaiproxy.testsupport.WireMockUpstream;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Azure's deployments API refuses {@code stream_options} before api-version 2024-09-01-preview (400 "Unrecognized
 * request argument supplied: stream_options"): with a ledger on, the proxy does not ask such an upstream, or a
 * chain that falls back to one, for a stream's usage, and records the stream's usage as an estimate instead.
 */
class ProxyEngineAzureStreamUsageTest {
    @RegisterExtension
    static final WireMockUpstream upstream = new WireMockUpstream();

    private static final String STREAM =
            "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\","
                    + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello there\"},\"finish_reason\":null}]}\n\n"
                    + "data: [DONE]\n\n";
    /** The same, as an upstream asked for usage sends it (the proxy takes the extra chunk out again). */
    private static final String STREAM_WITH_USAGE = STREAM.replace("}]}\n\n", "}],\"usage\":null}\n\n")
            .replace(
                    "data: [DONE]",
                    "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[],"
                            + "\"usage\":{\"prompt_tokens\":8,\"completion_tokens\":2,\"total_tokens\":10}}\n\n"
                            + "data: [DONE]");

    private final Queue<UsageRecord> ledger = new ConcurrentLinkedQueue<>();

    @ParameterizedTest
    @CsvSource({
        "2024-06-01, , false",
        "2024-08-01-preview, , false",
        "2024-09-01-preview, , true",
        "2024-10-21, , true",
        "2025-04-01-preview, , true",
        // a current Azure that falls back to an old one: the request may meet the old one, so it is not asked
        "2024-10-21, 2024-06-01, false",
        "2024-10-21, 2024-10-21, true"
    })
    void anAzureApiVersionThatRefusesStreamOptionsIsNotAskedForUsage(
            String version, String fallbackVersion, boolean asked) throws Exception {
        upstream.server()
                .stubFor(post(urlPathMatching("/openai/deployments/.*/chat/completions"))
                        .willReturn(aResponse()
                                .withStatus(200)
                                .withHeader("Content-Type", "text/event-stream")
                                .withBody(asked ? STREAM_WITH_USAGE : STREAM)));
        Map<String, String> s = new HashMap<>();
        s.put("upstreams.azure.kind", "azure");
        s.put("upstreams.azure.base-url", upstream.baseUrl().toString());
        s.put("upstreams.azure.keys", "azure-key-0123456789abcdef0123456789abcdef");
        s.put("upstreams.azure.api-version", version);
        s.put("upstreams.azure.models", "gpt-4o");
        if (fallbackVersion != null) {
            s.put("upstreams.azure.fallback", "old");
            s.put("upstreams.old.kind", "azure");
            s.put("upstreams.old.base-url", upstream.baseUrl().toString());
            s.put("upstreams.old.keys", "azure-key-fedcba9876543210fedcba9876543210");
            s.put("upstreams.old.api-version", fallbackVersion);
            s.put("upstreams.old.models", "gpt-4o");
        }
        String chat = "{\"model\":\"gpt-4o\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}";
        byte[] body = chat.getBytes(StandardCharsets.UTF_8);
        try (ProxyEngine engine = ProxyEngine.builder(ProxySettings.from(s)
                        .applyTo(config(upstream.baseUrl()))
                        .build())
                .usageLedger(ledger::add)
                .build()) {
            Answer a = send(
                    engine,
                    ProxyRequest.builder("POST", "/v1/chat/completions")
                            .header("Content-Type", "application/json")
                            .header("Content-Length", Integer.toString(body.length))
                            .remoteAddress("10.0.0.1")
                            .body(body));

            assertThat(a.status()).as(a.text()).isEqualTo(200);
            assertThat(a.text()).isEqualTo(STREAM);
            List<com.github.tomakehurst.wiremock.stubbing.ServeEvent> sent =
                    upstream.server().getAllServeEvents();
            assertThat(sent).hasSize(1);
            JsonNode upstreamBody = Json.parse(sent.get(0).getRequest().getBody());
            assertThat(upstreamBody.path("stream_options").path("include_usage").asBoolean(false))
                    .as("asked for usage")
                    .isEqualTo(asked);
            if (!asked) {
                assertThat(upstreamBody.has("stream_options")).isFalse();
            }
            assertThat(ledger).singleElement().satisfies(r -> {
                assertThat(r.estimated()).isEqualTo(!asked);
                assertThat(r.usage().outputTokens())
                        .isEqualTo(asked ? 2 : r.usage().outputTokens())
                        .isPositive();
            });
        }
    }
}
