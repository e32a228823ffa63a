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
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * openai-java sends an upload's file part before its model field: a proxy with named upstreams reads on past the file
 * (spooling it to {@code upload-spool-dir}) to the model, and routes the upload by it, byte for byte, leaving no spool
 * file behind. Before, the upload went to the default upstream, which does not serve whisper-1. (The Node SDK sends
 * the model first: see {@link NodeSdkTest}.)
 */
class MultipartModelRoutingSdkTest {
    private static final String KEY = "sk-named-default-0123456789abcdefghij";

    @RegisterExtension
    static WireMockExtension openai = WireMockExtension.newInstance()
            .options(wireMockConfig().dynamicPort().bindAddress("127.0.0.1"))
            .build();

    @RegisterExtension
    static WireMockExtension speech = WireMockExtension.newInstance()
            .options(wireMockConfig().dynamicPort().bindAddress("127.0.0.1"))
            .build();

    @org.junit.jupiter.api.io.TempDir
    java.nio.file.Path spoolDir;

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
    void openAiJavaSendsTheFileFirstAndItsUploadGoesToTheUpstreamOfItsModel() throws Exception {
        for (WireMockExtension u : List.of(openai, speech)) {
            u.stubFor(post(urlPathEqualTo("/v1/audio/transcriptions"))
                    .willReturn(aResponse()
                            .withStatus(200)
                            .withHeader("Content-Type", "application/json")
                            .withBody("{\"text\":\"from " + (u == openai ? "openai" : "speech") + "\"}")));
        }
        proxy = TomcatProxy.servlet(ProxySettings.from(Map.of(
                        "upload-spool-dir",
                        spoolDir.toString(),
                        "upstreams.openai.base-url",
                        openai.baseUrl(),
                        "upstreams.openai.keys",
                        KEY,
                        "upstreams.speech.kind",
                        "compatible",
                        "upstreams.speech.base-url",
                        speech.baseUrl(),
                        "upstreams.speech.models",
                        "whisper-1",
                        "pass-through-routes",
                        "POST /v1/audio/transcriptions"))
                .toConfig());
        client = OpenAIOkHttpClient.builder()
                .baseUrl("http://127.0.0.1:" + proxy.port() + "/v1")
                .apiKey("sk-client-placeholder")
                .maxRetries(0)
                .build();
        byte[] audio = new byte[1024 * 1024]; // past the 64 KiB held in memory: spooled
        new Random(5).nextBytes(audio);

        String text = client.audio()
                .transcriptions()
                .create(TranscriptionCreateParams.builder()
                        .file(audio)
                        .model(AudioModel.WHISPER_1)
                        .build())
                .asTranscription()
                .text();

        assertThat(text).isEqualTo("from speech");
        assertThat(openai.findAll(anyRequestedFor(anyUrl()))).isEmpty();
        try (java.util.stream.Stream<java.nio.file.Path> left = java.nio.file.Files.list(spoolDir)) {
            assertThat(left).as("the spool file is deleted when the call ends").isEmpty();
        }
        List<LoggedRequest> sent = speech.findAll(anyRequestedFor(anyUrl()));
        assertThat(sent).singleElement().satisfies(one -> {
            assertThat(one.getHeader("Content-Length"))
                    .as("the length the client declared")
                    .isEqualTo(Integer.toString(one.getBody().length));
            assertThat(one.getPart("file").getBody().asBytes()).isEqualTo(audio);
            assertThat(one.getPart("model").getBody().asString()).isEqualTo("whisper-1");
            String body = new String(one.getBody(), java.nio.charset.StandardCharsets.ISO_8859_1);
            assertThat(body.indexOf("name=\"file\""))
                    .as("openai-java's order: the file, then the model")
                    .isLessThan(body.indexOf("name=\"model\""));
        });
    }
}
