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
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A stream that the upstream ends with an error, in the shapes real servers send after a 200, is recorded in the
 * ledger as failed, not completed: OpenAI's and LiteLLM's {@code data: {"error":{...}}}, OpenRouter's chunk that
 * carries an {@code error} member beside its choices ({@code finish_reason: "error"}), and the Responses API's
 * {@code error} and {@code response.failed} events. The client gets every byte as sent either way.
 */
class ProxyEngineStreamErrorOutcomeTest {
    @RegisterExtension
    static final WireMockUpstream upstream = new WireMockUpstream();

    private static final String CHAT = "data: {\"id\":\"gen-1\",\"object\":\"chat.completion.chunk\",\"created\":1,"
            + "\"model\":\"openai/gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"},"
            + "\"finish_reason\":null}]}\n\n";
    private static final String CREATED = "event: response.created\ndata: {\"type\":\"response.created\","
            + "\"sequence_number\":0,\"response\":{\"id\":\"resp_1\",\"object\":\"response\",\"status\":\"in_progress\","
            + "\"error\":null,\"model\":\"gpt-4o\",\"output\":[],\"usage\":null}}\n\n"
            + "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":1,"
            + "\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":\"Hello\"}\n\n";

    @ParameterizedTest
    @CsvSource(
            delimiter = '|',
            value = {
                // OpenRouter: "errors that occur mid-generation still arrive as regular data: events with an error
                // field", the chunk's own members beside it.
                "/v1/chat/completions | UPSTREAM_FAILED | data: {\"id\":\"gen-1\",\"object\":\"chat.completion.chunk\","
                        + "\"created\":1,\"model\":\"openai/gpt-4o\",\"provider\":\"OpenAI\",\"error\":{\"code\":\"server_error\","
                        + "\"message\":\"Provider disconnected unexpectedly\"},\"choices\":[{\"index\":0,\"delta\":"
                        + "{\"content\":\"\"},\"finish_reason\":\"error\"}]}",
                "/v1/chat/completions | UPSTREAM_FAILED | data:{\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}",
                "/v1/chat/completions | COMPLETED | data: {\"id\":\"gen-1\",\"object\":\"chat.completion.chunk\","
                        + "\"created\":1,\"model\":\"openai/gpt-4o\",\"error\":null,\"choices\":[{\"index\":0,\"delta\":{},"
                        + "\"finish_reason\":\"stop\"}]}",
                // The Responses API: an error event, and a response that failed.
                "/v1/responses | UPSTREAM_FAILED | event: error\\ndata: {\"type\":\"error\",\"code\":\"server_error\","
                        + "\"message\":\"The server had an error\",\"param\":null,\"sequence_number\":2}",
                "/v1/responses | UPSTREAM_FAILED | event: response.failed\\ndata: {\"type\":\"response.failed\","
                        + "\"sequence_number\":2,\"response\":{\"id\":\"resp_1\",\"object\":\"response\",\"status\":\"failed\","
                        + "\"error\":{\"code\":\"server_error\",\"message\":\"The model failed\"},\"model\":\"gpt-4o\","
                        + "\"output\":[],\"usage\":null}}",
                "/v1/responses | COMPLETED | event: response.output_text.done\\ndata: {\"type\":\"response.output_text.done\","
                        + "\"sequence_number\":2,\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"text\":\"Hello\"}"
            })
    void aStreamEndedByAnUpstreamErrorIsRecordedFailed(String path, UsageRecord.Outcome outcome, String last) {
        String body = (path.equals("/v1/responses") ? CREATED : CHAT) + last.replace("\\n", "\n") + "\n\n";
        upstream.server().resetAll();
        upstream.server()
                .stubFor(post(urlPathEqualTo(path))
                        .willReturn(aResponse()
                                .withStatus(200)
                                .withHeader("Content-Type", "text/event-stream")
                                .withBody(body)));
        Queue<UsageRecord> ledger = new ConcurrentLinkedQueue<>();
        byte[] request = (path.equals("/v1/responses")
                        ? "{\"model\":\"gpt-4o\",\"stream\":true,\"input\":\"Hi\"}"
                        : "{\"model\":\"gpt-4o\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}")
                .getBytes(StandardCharsets.UTF_8);
        try (ProxyEngine engine = ProxyEngine.builder(config(upstream.baseUrl())
                        .ledger(LedgerConfig.DEFAULTS.withStore(LedgerConfig.Store.MEMORY))
                        .build())
                .usageLedger(ledger::add)
                .build()) {
            Answer a = send(
                    engine,
                    ProxyRequest.builder("POST", path)
                            .header("Content-Type", "application/json")
                            .header("Content-Length", Integer.toString(request.length))
                            .remoteAddress("10.0.0.1")
                            .body(request));

            assertThat(a.status()).isEqualTo(200);
            assertThat(a.text()).isEqualTo(body);
        }
        assertThat(ledger).singleElement().satisfies(r -> {
            assertThat(r.outcome()).isEqualTo(outcome);
            assertThat(r.estimated()).isTrue(); // no usage came: estimated from the input and "Hello"
        });
    }
}
