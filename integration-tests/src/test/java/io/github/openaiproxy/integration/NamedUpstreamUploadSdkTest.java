package io.github.openaiproxy.integration;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.anyRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.wireMockConfig;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.models.audio.AudioModel;
import com.openai.models.audio.transcriptions.TranscriptionCreateParams;
import com.openai.models.audio.transcriptions.TranscriptionCreateResponse;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The official openai-java client sends a 20 MB audio file (OpenAI takes up to 25 MB) through a proxy whose default
 * upstream is a configured {@code upstreams.openai}: the upload streams there under {@code max-upload-size}, twice
 * {@code max-body-size}, and arrives whole.
 */
class NamedUpstreamUploadSdkTest {
    private static final String KEY = "sk-named-default-0123456789abcdefghij";

    @RegisterExtension
    static WireMockExtension openai = WireMockExtension.newInstance()
            .options(wireMockConfig().dynamicPort().bindAddress("127.0.0.1"))
            .build();

    TomcatProxy proxy;
    OpenAIClient client;

    @AfterEach
    void stop() {
        if (client != null) {
            client.close();
        }
        if (proxy != null) {
            proxy.close();
        }
    }

    @Test
    void aTwentyMegabyteTranscriptionGoesThroughWhole() {
        openai.stubFor(post(urlPathEqualTo("/v1/audio/transcriptions"))
                .willReturn(aResponse()
                        .withStatus(200)
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"text\":\"hello from the upstream\"}")));
        proxy = TomcatProxy.servlet(ProxySettings.from(Map.of(
                        "upstreams.openai.base-url",
                        openai.baseUrl(),
                        "upstreams.openai.keys",
                        KEY,
                        "pass-through-routes",
                        "POST /v1/audio/transcriptions"))
                .toConfig());
        client = OpenAIOkHttpClient.builder()
                .baseUrl("http://127.0.0.1:" + proxy.port() + "/v1")
                .apiKey("sk-client-placeholder")
                .maxRetries(0)
                .build();
        byte[] audio = new byte[20 * 1024 * 1024];
        new Random(21).nextBytes(audio);

        TranscriptionCreateResponse r = client.audio()
                .transcriptions()
                .create(TranscriptionCreateParams.builder()
                        .file(audio)
                        .model(AudioModel.WHISPER_1)
                        .build());

        assertThat(r.asTranscription().text()).isEqualTo("hello from the upstream");
        List<LoggedRequest> sent = openai.findAll(anyRequestedFor(anyUrl()));
        assertThat(sent).hasSize(1);
        assertThat(sent.get(0).getHeader("Authorization")).isEqualTo("Bearer " + KEY);
        assertThat(sent.get(0).getHeader("Content-Type")).startsWith("multipart/form-data; boundary=");
        assertThat(sent.get(0).getPart("file").getBody().asBytes())
                .as("the file, byte for byte")
                .isEqualTo(audio);
    }
}
