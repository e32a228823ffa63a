package io.github.openaiproxy.integration;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.matchingJsonPath;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.wireMockConfig;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.WireMockServer;
import com.github.tomakehurst.wiremock.stubbing.ServeEvent;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.servlet.support.OpenAiFixtures;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import io.github.openaiproxy.testsupport.H2cUpstream;
import java.util.HashMap;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@code upstreams.<name>.http-version}: one proxy calls an upstream that speaks only h2c (prior knowledge) and one
 * that speaks only HTTP/1.1, each in its own version, whichever of them {@code upstream-http-version} names. The
 * official SDK, over HTTP/1.1 to the proxy, gets a completion and a stream from each.
 */
class NamedUpstreamHttpVersionHttpTest {
    private H2cUpstream h2c;
    /** HTTP/1.1 only: WireMock's Jetty would otherwise also take h2c on its plain port. */
    private WireMockServer http11;

    @BeforeEach
    void start() throws Exception {
        h2c = H2cUpstream.start();
        http11 = new WireMockServer(
                wireMockConfig().dynamicPort().bindAddress("127.0.0.1").http2PlainDisabled(true));
        http11.start();
        http11.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .willReturn(aResponse()
                        .withHeader("Content-Type", "application/json")
                        .withBody(OpenAiFixtures.CHAT_COMPLETION)));
        http11.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .withRequestBody(matchingJsonPath("$[?(@.stream == true)]"))
                .willReturn(aResponse()
                        .withHeader("Content-Type", "text/event-stream")
                        .withBody(String.join("", OpenAiFixtures.chatStreamEvents("over ", "1.1")))));
    }

    @AfterEach
    void stop() throws Exception {
        http11.stop();
        h2c.close();
    }

    /** {@code h2} ({@code h2-model}) on the h2c upstream, {@code plain} ({@code plain-model}) on WireMock. */
    private Map<String, String> settings(String global) {
        Map<String, String> s = new HashMap<>();
        s.put("upstream-http-version", global);
        s.put("upstreams.h2.kind", "compatible");
        s.put("upstreams.h2.base-url", h2c.baseUrl() + "/v1");
        s.put("upstreams.h2.models", "h2-model");
        s.put("upstreams.plain.kind", "compatible");
        s.put("upstreams.plain.base-url", http11.baseUrl() + "/v1");
        s.put("upstreams.plain.models", "plain-model");
        s.put("upstreams.plain.retries", "0"); // a wrong version fails at once, not after retries
        s.put("upstreams.h2.retries", "0");
        return s;
    }

    @Test
    void globalHttp11AndOneUpstreamOnHttp2() throws Exception {
        Map<String, String> s = settings("1.1");
        s.put("upstreams.h2.http-version", "2");
        bothAnswerInTheirOwnVersion(s);
    }

    @Test
    void globalHttp2AndOneUpstreamOnHttp11() throws Exception {
        Map<String, String> s = settings("2");
        s.put("upstreams.plain.http-version", "1.1");
        bothAnswerInTheirOwnVersion(s);
    }

    @Test
    void upstreamsWithTheSameVersionShareAClient() throws Exception {
        Map<String, String> s = settings("1.1");
        s.put("upstreams.h2.http-version", "2");
        // A second name for the same h2c server, with the same settings: the same client, so the same connection.
        s.put("upstreams.h2-too.kind", "compatible");
        s.put("upstreams.h2-too.base-url", h2c.baseUrl() + "/v1");
        s.put("upstreams.h2-too.models", "h2-too-model");
        s.put("upstreams.h2-too.http-version", "2");
        try (TomcatProxy proxy = TomcatProxy.servlet(ProxySettings.from(s).toConfig())) {
            OpenAIClient client = sdk(proxy);
            try {
                assertThat(complete(client, "h2-model")).isEqualTo("over h2c");
                assertThat(complete(client, "h2-too-model")).isEqualTo("over h2c");
            } finally {
                client.close();
            }
        }
        assertThat(h2c.seen())
                .hasSize(2)
                .allSatisfy(seen -> assertThat(seen.protocol()).isEqualTo("HTTP/2.0"));
        assertThat(h2c.seen().stream().map(H2cUpstream.Seen::connection).distinct())
                .hasSize(1);
    }

    @Test
    void theJdkClientAsksEachUpstreamForItsOwnVersion() throws Exception {
        // The JDK client reaches a plain upstream on 2 by an h2c upgrade (which an h2c-only server refuses), so both
        // names go to the HTTP/1.1 server: the one on 2 is asked for the upgrade, the one on 1.1 is not.
        Map<String, String> s = settings("2");
        s.put("upstream-client", "jdk");
        s.put("upstreams.h2.base-url", http11.baseUrl() + "/v1");
        s.put("upstreams.plain.http-version", "1.1");
        try (TomcatProxy proxy = TomcatProxy.servlet(ProxySettings.from(s).toConfig())) {
            OpenAIClient client = sdk(proxy);
            try {
                assertThat(complete(client, "h2-model")).isEqualTo("Hello! How can I help you today?");
                assertThat(complete(client, "plain-model")).isEqualTo("Hello! How can I help you today?");
            } finally {
                client.close();
            }
        }
        // WireMock lists the newest first.
        var requests =
                http11.getAllServeEvents().stream().map(ServeEvent::getRequest).toList();
        assertThat(requests).hasSize(2);
        assertThat(requests.get(1).getHeader("Upgrade")).isEqualTo("h2c");
        assertThat(requests.get(0).containsHeader("Upgrade")).isFalse();
    }

    private void bothAnswerInTheirOwnVersion(Map<String, String> s) throws Exception {
        try (TomcatProxy proxy = TomcatProxy.servlet(ProxySettings.from(s).toConfig())) {
            OpenAIClient client = sdk(proxy);
            try {
                assertThat(complete(client, "h2-model")).isEqualTo("over h2c");
                assertThat(stream(client, "h2-model")).isEqualTo("t0t1t2");
                assertThat(complete(client, "plain-model")).isEqualTo("Hello! How can I help you today?");
                assertThat(stream(client, "plain-model")).isEqualTo("over 1.1");
            } finally {
                client.close();
            }
        }
        assertThat(h2c.seen()).hasSize(2).allSatisfy(seen -> {
            assertThat(seen.protocol()).isEqualTo("HTTP/2.0");
            assertThat(seen.path()).isEqualTo("/v1/chat/completions");
        });
        assertThat(http11.getAllServeEvents())
                .hasSize(2)
                .extracting(ServeEvent::getRequest)
                .allSatisfy(r -> assertThat(r.getProtocol()).isEqualTo("HTTP/1.1"));
    }

    private static OpenAIClient sdk(TomcatProxy proxy) {
        return OpenAIOkHttpClient.builder()
                .baseUrl("http://127.0.0.1:" + proxy.port() + "/v1")
                .apiKey("sk-client-placeholder")
                .maxRetries(0)
                .build();
    }

    private static ChatCompletionCreateParams hello(String model) {
        return ChatCompletionCreateParams.builder()
                .model(model)
                .addUserMessage("hi")
                .build();
    }

    private static String complete(OpenAIClient client, String model) {
        return client.chat()
                .completions()
                .create(hello(model))
                .choices()
                .get(0)
                .message()
                .content()
                .orElseThrow();
    }

    private static String stream(OpenAIClient client, String model) {
        try (StreamResponse<ChatCompletionChunk> stream =
                client.chat().completions().createStreaming(hello(model))) {
            return stream.stream()
                    .flatMap(chunk -> chunk.choices().stream())
                    .flatMap(choice -> choice.delta().content().stream())
                    .collect(Collectors.joining());
        }
    }
}
