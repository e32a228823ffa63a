package io.github.openaiproxy.integration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.errors.InternalServerException;
import com.openai.models.ChatModel;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import io.github.openaiproxy.testsupport.H2cUpstream;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@code upstream-http-version=2}: the official SDK, over HTTP/1.1 to the proxy, gets its completions and streams
 * from an upstream that speaks only HTTP/2, with the server's key.
 */
class Http2UpstreamSdkTest {
    private static final String SERVER_KEY = "sk-server-key-for-h2c-0123456789";

    private H2cUpstream upstream;
    private TomcatProxy proxy;
    private OpenAIClient client;

    @BeforeEach
    void start() throws Exception {
        upstream = H2cUpstream.start();
        proxy = TomcatProxy.servlet(ProxySettings.from(Map.of(
                        "api-key", SERVER_KEY, "base-url", upstream.baseUrl().toString(), "upstream-http-version", "2"))
                .toConfig());
        client = OpenAIOkHttpClient.builder()
                .baseUrl("http://127.0.0.1:" + proxy.port() + "/v1")
                .apiKey("sk-client-placeholder")
                .maxRetries(0)
                .build();
    }

    @AfterEach
    void stop() throws Exception {
        client.close();
        proxy.close();
        upstream.close();
    }

    private static ChatCompletionCreateParams hello() {
        return ChatCompletionCreateParams.builder()
                .model(ChatModel.GPT_4O_MINI)
                .addUserMessage("hi")
                .build();
    }

    @Test
    void aCompletionComesOverHttp2WithTheServersKey() {
        ChatCompletion answer = client.chat().completions().create(hello());

        assertThat(answer.choices().get(0).message().content()).hasValue("over h2c");
        H2cUpstream.Seen seen = upstream.seen().get(0);
        assertThat(seen.protocol()).isEqualTo("HTTP/2.0");
        assertThat(seen.path()).isEqualTo("/v1/chat/completions");
        assertThat(seen.headers()).containsEntry("authorization", "Bearer " + SERVER_KEY);
    }

    /**
     * An upstream stream reset after half an event, before its first: the SDK's stream meets the proxy's 502 JSON
     * error as an API error it reads (status, code), not as a stream that ends in an error event.
     */
    @Test
    void aStreamBrokenBeforeItsFirstEventIsAServerErrorTheSdkReads() {
        ChatCompletionCreateParams params = hello().toBuilder()
                .putAdditionalQueryParam("events", "0")
                .putAdditionalQueryParam("break", "reset")
                .build();

        InternalServerException e = catchThrowableOfType(InternalServerException.class, () -> {
            try (StreamResponse<ChatCompletionChunk> stream =
                    client.chat().completions().createStreaming(params)) {
                stream.stream().forEach(chunk -> {});
            }
        });

        assertThat(e).as("the SDK's error for the proxy's 502").isNotNull();
        assertThat(e.statusCode()).isEqualTo(502);
        assertThat(e.code()).contains("upstream_disconnected");
        assertThat(e.type()).contains("server_error");
    }

    @Test
    void aStreamComesOverHttp2EventByEvent() {
        String text;
        try (StreamResponse<ChatCompletionChunk> stream =
                client.chat().completions().createStreaming(hello())) {
            text = stream.stream()
                    .flatMap(chunk -> chunk.choices().stream())
                    .flatMap(choice -> choice.delta().content().stream())
                    .collect(Collectors.joining());
        }

        assertThat(text).isEqualTo("t0t1t2");
        assertThat(upstream.seen()).singleElement().satisfies(s -> {
            assertThat(s.protocol()).isEqualTo("HTTP/2.0");
            assertThat(s.body()).contains("\"stream\":true");
        });
    }
}
