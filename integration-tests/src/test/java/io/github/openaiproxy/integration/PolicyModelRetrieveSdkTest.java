package io.github.openaiproxy.integration;

import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.wireMockConfig;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.errors.PermissionDeniedException;
import com.openai.models.models.Model;
import io.github.openaiproxy.core.access.ProxyKeys;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A proxy key whose policy allows {@code gpt-4o-mini} and {@code meta-llama/*} only, over real HTTP on Tomcat: the
 * official openai-java client may retrieve those models, but {@code client.models().retrieve} (and {@code delete}) of
 * another raises {@link PermissionDeniedException} ({@code model_not_allowed}) with no upstream call, as a chat
 * request for it would; the list answers the allowed models.
 */
class PolicyModelRetrieveSdkTest {
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

    private static final HttpClient HTTP = HttpClient.newHttpClient();

    private final ProxyKeys.NewKey key = ProxyKeys.generate();
    private TomcatProxy proxy;
    private OpenAIClient client;

    @BeforeEach
    void start() {
        Map<String, String> s = new HashMap<>();
        s.put("api-key", SERVER_KEY);
        s.put("base-url", openai.baseUrl());
        s.put("pass-through-routes", "GET /v1/models, GET /v1/models/{id}, DELETE /v1/models/{id}");
        s.put("upstreams.vllm.kind", "compatible");
        s.put("upstreams.vllm.base-url", vllm.baseUrl() + "/v1");
        s.put("upstreams.vllm.keys", VLLM_KEY);
        s.put("upstreams.vllm.models", "meta-llama/*, qwen2.5, " + LLAMA);
        s.put("access.anonymous", "deny");
        s.put("access.keys", key.hash() + ":mini:ci");
        s.put("policies.mini.models", "gpt-4o-mini, meta-llama/*");
        proxy = TomcatProxy.servletAllowingEncodedSlashes(ProxySettings.from(s).toConfig());
        client = OpenAIOkHttpClient.builder()
                .baseUrl("http://127.0.0.1:" + proxy.port() + "/v1")
                .apiKey(key.secret())
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

    private static List<LoggedRequest> calls(WireMockExtension upstream) {
        return upstream.findAll(anyRequestedFor(anyUrl()));
    }

    private HttpResponse<String> send(String method, String path) throws Exception {
        return HTTP.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxy.port() + path))
                        .method(method, HttpRequest.BodyPublishers.noBody())
                        .header("Authorization", "Bearer " + key.secret())
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void anAllowedModelIsRetrievedByTheSdk() {
        Model mini = client.models().retrieve("gpt-4o-mini");
        Model llama = client.models().retrieve(LLAMA); // sent with %2F

        assertThat(mini.id()).isEqualTo("gpt-4o-mini");
        assertThat(llama.id()).isEqualTo(LLAMA);
        assertThat(calls(openai)).singleElement().satisfies(r -> {
            assertThat(r.getUrl()).isEqualTo("/v1/models/gpt-4o-mini");
            assertThat(r.getHeader("Authorization")).isEqualTo("Bearer " + SERVER_KEY);
        });
        assertThat(calls(vllm))
                .singleElement()
                .satisfies(r -> assertThat(r.getUrl()).isEqualTo("/v1/models/" + LLAMA));
    }

    @Test
    void aModelOutsideTheKeysPolicyRaisesPermissionDeniedWithNoUpstreamCall() {
        PermissionDeniedException retrieve = catchThrowableOfType(
                PermissionDeniedException.class, () -> client.models().retrieve("gpt-4o"));
        PermissionDeniedException served = catchThrowableOfType(
                PermissionDeniedException.class, () -> client.models().retrieve("qwen2.5"));
        PermissionDeniedException delete = catchThrowableOfType(
                PermissionDeniedException.class, () -> client.models().delete("ft:gpt-4o-mini:acme::abc123"));

        for (PermissionDeniedException e : List.of(retrieve, served, delete)) {
            assertThat(e.statusCode()).isEqualTo(403);
            assertThat(e.code()).contains("model_not_allowed");
        }
        assertThat(calls(openai)).isEmpty();
        assertThat(calls(vllm)).isEmpty();
    }

    @Test
    void overRawHttpARawSlashIsJudgedAsTheEncodedOne() throws Exception {
        HttpResponse<String> allowed = send("GET", "/v1/models/" + LLAMA);
        HttpResponse<String> refused = send("GET", "/v1/models/mistralai/Mistral-7B-Instruct");
        HttpResponse<String> refusedDelete = send("DELETE", "/v1/models/ft:gpt-4o:acme::abc123");

        assertThat(allowed.statusCode()).as(allowed.body()).isEqualTo(200);
        for (HttpResponse<String> r : List.of(refused, refusedDelete)) {
            assertThat(r.statusCode()).isEqualTo(403);
            assertThat(r.headers().firstValue("Content-Type"))
                    .hasValueSatisfying(t -> assertThat(t).startsWith("application/json"));
            JsonNode error = new ObjectMapper().readTree(r.body()).path("error");
            assertThat(error.path("type").asText()).isEqualTo("permission_error");
            assertThat(error.path("code").asText()).isEqualTo("model_not_allowed");
            assertThat(error.path("param").asText()).isEqualTo("model");
            assertThat(r.body()).doesNotContain(key.secret());
        }
        assertThat(calls(openai)).isEmpty();
        assertThat(calls(vllm))
                .singleElement()
                .satisfies(r -> assertThat(r.getUrl()).isEqualTo("/v1/models/" + LLAMA));
    }

    @Test
    void theListAnswersTheKeyWithTheModelsItMayUse() {
        List<String> ids = client.models().list().data().stream().map(Model::id).toList();

        assertThat(ids).containsExactly(LLAMA);
        assertThat(calls(openai)).isEmpty();
        assertThat(calls(vllm)).isEmpty();
    }
}
