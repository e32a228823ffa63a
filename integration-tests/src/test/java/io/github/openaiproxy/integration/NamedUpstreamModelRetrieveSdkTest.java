package io.github.openaiproxy.integration;

import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.wireMockConfig;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.errors.NotFoundException;
import com.openai.models.models.Model;
import com.openai.models.models.ModelDeleted;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * openai-java's {@code client.models().retrieve(id)} (and {@code delete}) through the proxy on Tomcat reaches the
 * upstream that serves the model, as a chat request for it would: a glob ({@code meta-llama/*}, the id sent with
 * {@code %2F}), an exact name, an alias (asked under the upstream's name, answered under the client's), else the
 * default upstream; each with its own key.
 */
class NamedUpstreamModelRetrieveSdkTest {
    private static final String SERVER_KEY = "sk-proj-default-0123456789abcdefghijklmn";
    private static final String VLLM_KEY = "sk-vllm-sdk-0123456789abcdefghijklmnopq";
    private static final String LLAMA = "meta-llama/Llama-3.1-8B-Instruct";

    @RegisterExtension
    static WireMockExtension openai = WireMockExtension.newInstance()
            .options(wireMockConfig().dynamicPort().bindAddress("127.0.0.1"))
            .build();

    @RegisterExtension
    static WireMockExtension vllm = WireMockExtension.newInstance()
            .options(wireMockConfig().dynamicPort().bindAddress("127.0.0.1"))
            .build();

    TomcatProxy proxy;
    OpenAIClient client;

    @BeforeEach
    void start() {
        Map<String, String> s = new HashMap<>();
        s.put("api-key", SERVER_KEY);
        s.put("base-url", openai.baseUrl());
        s.put("pass-through-routes", "GET /v1/models, GET /v1/models/{id}, DELETE /v1/models/{id}");
        s.put("upstreams.vllm.kind", "compatible");
        s.put("upstreams.vllm.base-url", vllm.baseUrl() + "/v1");
        s.put("upstreams.vllm.keys", VLLM_KEY);
        s.put("upstreams.vllm.models", "meta-llama/*, qwen2.5");
        s.put("upstreams.vllm.aliases", "fast=" + LLAMA);
        proxy = TomcatProxy.servletAllowingEncodedSlashes(ProxySettings.from(s).toConfig());
        client = OpenAIOkHttpClient.builder()
                .baseUrl("http://127.0.0.1:" + proxy.port() + "/v1")
                .apiKey("sk-client-placeholder")
                .maxRetries(0)
                .build();
        openai.stubFor(any(anyUrl()).willReturn(okJson(model("gpt-4o-mini", "system"))));
        vllm.stubFor(any(anyUrl()).willReturn(okJson(model(LLAMA, "vllm"))));
    }

    @AfterEach
    void stop() {
        client.close();
        proxy.close();
    }

    private static String model(String id, String ownedBy) {
        return "{\"id\":\"" + id + "\",\"object\":\"model\",\"created\":1721172741,\"owned_by\":\"" + ownedBy + "\"}";
    }

    private static LoggedRequest only(WireMockExtension upstream) {
        List<LoggedRequest> sent = upstream.findAll(anyRequestedFor(anyUrl()));
        assertThat(sent).hasSize(1);
        return sent.get(0);
    }

    private static void assertOnlyVllm(String method, String url) {
        LoggedRequest sent = only(vllm);
        assertThat(sent.getMethod().getName()).isEqualTo(method);
        assertThat(sent.getUrl()).isEqualTo(url);
        assertThat(sent.getHeader("Authorization")).isEqualTo("Bearer " + VLLM_KEY);
        assertThat(openai.findAll(anyRequestedFor(anyUrl()))).isEmpty();
    }

    @Test
    void aGlobMatchedModelIsRetrievedFromItsUpstream() {
        Model model = client.models().retrieve(LLAMA);

        assertThat(model.id()).isEqualTo(LLAMA);
        assertThat(model.ownedBy()).isEqualTo("vllm");
        assertOnlyVllm("GET", "/v1/models/" + LLAMA);
    }

    @Test
    void anExactNameIsRetrievedFromItsUpstream() {
        vllm.stubFor(any(anyUrl()).willReturn(okJson(model("qwen2.5", "vllm"))));

        Model model = client.models().retrieve("qwen2.5");

        assertThat(model.id()).isEqualTo("qwen2.5");
        assertOnlyVllm("GET", "/v1/models/qwen2.5");
    }

    @Test
    void anAliasIsRetrievedUnderTheUpstreamsNameAndAnsweredUnderTheClients() {
        Model model = client.models().retrieve("fast");

        assertThat(model.id()).isEqualTo("fast"); // as client.models().list() names it
        assertThat(model.ownedBy()).isEqualTo("vllm");
        assertOnlyVllm("GET", "/v1/models/" + LLAMA);
    }

    @Test
    void anotherModelIsRetrievedFromTheDefaultUpstreamWithItsKey() {
        Model model = client.models().retrieve("gpt-4o-mini");

        assertThat(model.id()).isEqualTo("gpt-4o-mini");
        LoggedRequest sent = only(openai);
        assertThat(sent.getUrl()).isEqualTo("/v1/models/gpt-4o-mini");
        assertThat(sent.getHeader("Authorization")).isEqualTo("Bearer " + SERVER_KEY);
        assertThat(vllm.findAll(anyRequestedFor(anyUrl()))).isEmpty();
    }

    @Test
    void aFineTunedModelIsDeletedOnItsUpstream() {
        vllm.stubFor(
                any(anyUrl()).willReturn(okJson("{\"id\":\"meta-llama/ft-1\",\"object\":\"model\",\"deleted\":true}")));

        ModelDeleted deleted = client.models().delete("meta-llama/ft-1");

        assertThat(deleted.deleted()).isTrue();
        assertOnlyVllm("DELETE", "/v1/models/meta-llama/ft-1");
    }

    @Test
    void aTraversalIdIsNotFoundAndReachesNoUpstream() {
        NotFoundException e = catchThrowableOfType(
                NotFoundException.class, () -> client.models().retrieve("meta-llama/../files"));

        assertThat(e.statusCode()).isEqualTo(404);
        assertThat(vllm.findAll(anyRequestedFor(anyUrl()))).isEmpty();
        assertThat(openai.findAll(anyRequestedFor(anyUrl()))).isEmpty();
    }
}
