package io.github.openaiproxy.integration;

import static org.assertj.core.api.Assertions.assertThat;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.models.ChatModel;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.usage.UsageRecord;
import io.github.openaiproxy.servlet.support.StubUpstream;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * openai-java reads a compatible server's stream through the proxy as it reads it from the server itself: CRLF and
 * bare CR line ends, comments before and between events, {@code data:} without its space, JSON over two data lines,
 * no {@code [DONE]}, reads that split an event (and a character) anywhere; and a stream the server gzipped.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class WireQuirksSdkTest {
    private static final String HEAD =
            "{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\"," + "\"choices\":[";

    private static final String STREAM = ": OPENROUTER PROCESSING\n\n"
            + ": keep-alive\r\n\r\n"
            + "data:" + HEAD
            + "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\u65e5\u672c\ud83d\ude00\"}}]%U}\r\n\r\n"
            + "data: " + HEAD + "{\"index\":0,\"delta\":{\"content\":\" caf\u00e9\"}}]%U}\r\r"
            + "data: " + HEAD + "{\"index\":0,\"delta\":{\"content\":\"!\"}}]%U}\n\r\n"
            + "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\n"
            + "data: \"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"?\"}}]}\n\n"
            + ": keep-alive\n\n"
            + "data: " + HEAD + "{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]%U}\r\n\r\n"
            + "%CHUNK";

    private static final String USAGE_CHUNK =
            "data: " + HEAD + "],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":4,\"total_tokens\":13}}\r\r";

    private final List<UsageRecord> records = new CopyOnWriteArrayList<>();
    private StubUpstream upstream;
    private TomcatProxy proxy;

    @AfterEach
    void stop() {
        if (proxy != null) {
            proxy.close();
        }
        if (upstream != null) {
            assertThat(upstream.handlerFailures()).isEmpty();
            upstream.close();
        }
    }

    private static byte[] sent(boolean asked) {
        return STREAM.replace("%U", asked ? ",\"usage\":null" : "")
                .replace("%CHUNK", asked ? USAGE_CHUNK : "")
                .getBytes(StandardCharsets.UTF_8);
    }

    private static String content(String baseUrl) {
        OpenAIClient client = OpenAIOkHttpClient.builder()
                .baseUrl(baseUrl)
                .apiKey("sk-client-placeholder")
                .maxRetries(0)
                .build();
        try (StreamResponse<ChatCompletionChunk> stream = client.chat()
                .completions()
                .createStreaming(ChatCompletionCreateParams.builder()
                        .model(ChatModel.GPT_4O_MINI)
                        .addUserMessage("hi")
                        .build())) {
            return stream.stream()
                    .flatMap(chunk -> chunk.choices().stream())
                    .flatMap(choice -> choice.delta().content().stream())
                    .collect(Collectors.joining());
        } finally {
            client.close();
        }
    }

    @ParameterizedTest(name = "{0}, counting {1}, gzip {2}")
    @CsvSource({"jetty,false,false", "jetty,true,false", "jdk,false,false", "jdk,true,true", "jetty,true,true"})
    void theSdkReadsTheRelayedStreamAsItReadsTheServersOwn(String client, boolean counting, boolean gzip) {
        AtomicInteger split = new AtomicInteger();
        upstream = StubUpstream.start(ex -> {
            byte[] body = sent(ex.request().bodyText().contains("include_usage"));
            if (gzip) {
                ex.head(200, "Content-Type", "text/event-stream", "Content-Encoding", "gzip");
                ex.chunk(gzip(body));
            } else {
                ex.head(200, "Content-Type", "text/event-stream; charset=utf-8");
                int at = Math.min(split.get(), body.length - 1); // a chunk of 0 bytes would end the body
                ex.chunk(Arrays.copyOfRange(body, 0, at));
                Thread.sleep(1);
                ex.chunk(Arrays.copyOfRange(body, at, body.length));
            }
            ex.endChunks();
        });
        Map<String, String> s = new HashMap<>();
        s.put("api-key", "sk-server-key-123456");
        s.put("base-url", upstream.baseUrl().toString());
        s.put("upstream-client", client);
        ProxyEngine.Builder engine = ProxyEngine.builder(ProxySettings.from(s).toConfig());
        if (counting) {
            engine.usageLedger(records::add);
        }
        proxy = TomcatProxy.servlet(engine.build());

        // Split at a comment's CR before its LF, inside the emoji (three places), and near the bare CRs.
        for (int at : new int[] {1, 38, 39, 182, 183, 184, 322, 323}) {
            split.set(at);
            String direct = gzip ? "\u65e5\u672c\ud83d\ude00 caf\u00e9!?" : content(upstream.baseUrl() + "/v1");
            assertThat(content("http://127.0.0.1:" + proxy.port() + "/v1"))
                    .as("split at %d", at)
                    .isEqualTo(direct);
            assertThat(direct).isEqualTo("\u65e5\u672c\ud83d\ude00 caf\u00e9!?");
        }
    }

    @ParameterizedTest(name = "choices {0}")
    @CsvSource({"'\"choices\":null,'", "''"})
    void aUsageChunkWithoutChoicesThatTheProxyAskedForNeverReachesTheSdk(String choices) {
        // openai-java cannot read a chunk without choices; the client did not ask for it, so it must not see it.
        upstream = StubUpstream.start(ex -> {
            ex.head(200, "Content-Type", "text/event-stream");
            ex.chunk("data: " + HEAD + "{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n"
                    + "data: " + HEAD + "{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
                    + "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\","
                    + choices
                    + "\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":1,\"total_tokens\":10}}\n\n"
                    + "data: [DONE]\n\n");
            ex.endChunks();
        });
        proxy = TomcatProxy.servlet(ProxyEngine.builder(ProxySettings.from(Map.of(
                                "api-key",
                                "sk-server-key-123456",
                                "base-url",
                                upstream.baseUrl().toString()))
                        .toConfig())
                .usageLedger(records::add)
                .build());

        assertThat(content("http://127.0.0.1:" + proxy.port() + "/v1")).isEqualTo("Hi");
    }

    private static byte[] gzip(byte[] bytes) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GZIPOutputStream z = new GZIPOutputStream(out)) {
            z.write(bytes);
        }
        return out.toByteArray();
    }
}
