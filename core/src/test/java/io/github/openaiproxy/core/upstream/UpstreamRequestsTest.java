package io.github.openaiproxy.core.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.keys.ApiKey;
import java.net.URI;
import java.net.http.HttpHeaders;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class UpstreamRequestsTest {
    private static final ApiKey KEY = ApiKey.of("sk-server-0001").orElseThrow();
    private final UpstreamRequests requests = new UpstreamRequests(UpstreamConfig.defaults()
            .withBaseUrl(URI.create("http://127.0.0.1:9999/v1"))
            .withOrganization("org-1")
            .withProject("proj-1"));

    @Test
    void jsonRequestCarriesTheKeyAndTheConfiguredHeaders() {
        UpstreamRequest r = requests.json("/v1/chat/completions", "{}".getBytes(StandardCharsets.UTF_8), false, KEY);

        assertThat(r.method()).isEqualTo("POST");
        assertThat(r.uri()).isEqualTo(URI.create("http://127.0.0.1:9999/v1/chat/completions"));
        assertThat(r.headers().firstValue("authorization")).contains("Bearer sk-server-0001");
        assertThat(r.headers().firstValue("content-type")).contains("application/json");
        assertThat(r.headers().firstValue("accept")).contains("application/json");
        assertThat(r.headers().firstValue("openai-organization")).contains("org-1");
        assertThat(r.headers().firstValue("openai-project")).contains("proj-1");
    }

    @Test
    void addressesAreResolvedOncePerPathWithABoundedCacheAndQueriesEveryTime() {
        HttpHeaders none = HttpHeaders.of(java.util.Map.of(), (n, v) -> true);
        URI first =
                requests.json("/v1/chat/completions", new byte[0], false, KEY).uri();
        assertThat(requests.json("/v1/chat/completions", new byte[0], false, KEY)
                        .uri())
                .isSameAs(first);
        // A client sending many different paths fills the cache; every address stays right after that.
        for (int i = 0; i < 500; i++) {
            assertThat(requests.passThrough("GET", "/v1/files/file-" + i, null, none, new byte[0], KEY)
                            .uri())
                    .isEqualTo(URI.create("http://127.0.0.1:9999/v1/files/file-" + i));
        }
        assertThat(requests.passThrough("GET", "/v1/files/x", "limit=1", none, new byte[0], KEY)
                        .uri())
                .isEqualTo(URI.create("http://127.0.0.1:9999/v1/files/x?limit=1"));
        assertThat(requests.passThrough("GET", "/v1/files/x", "limit=2", none, new byte[0], KEY)
                        .uri())
                .isEqualTo(URI.create("http://127.0.0.1:9999/v1/files/x?limit=2"));
    }

    @Test
    void streamingJsonRequestAcceptsAnEventStream() {
        UpstreamRequest r = requests.json("/v1/chat/completions", new byte[0], true, KEY);

        assertThat(r.headers().firstValue("accept")).contains("text/event-stream");
    }

    @Test
    void passThroughCopiesOnlySafeClientHeaders() {
        HttpHeaders client = HttpHeaders.of(
                Map.of(
                        "Authorization", List.of("Bearer sk-client-placeholder"),
                        "Cookie", List.of("session=abc"),
                        "x-openai-key", List.of("sk-client-0002"),
                        "Connection", List.of("keep-alive"),
                        "Content-Type", List.of("application/json; charset=utf-8"),
                        "Accept", List.of("text/event-stream"),
                        "OpenAI-Beta", List.of("assistants=v2"),
                        "Idempotency-Key", List.of("stainless-retry-1"),
                        "x-stainless-lang", List.of("js")),
                (n, v) -> true);

        UpstreamRequest r = requests.passThrough(
                "POST", "/v1/responses", "x=1", client, "{}".getBytes(StandardCharsets.UTF_8), KEY);

        assertThat(r.uri()).isEqualTo(URI.create("http://127.0.0.1:9999/v1/responses?x=1"));
        assertThat(r.headers().map().keySet())
                .map(String::toLowerCase)
                .containsExactlyInAnyOrder(
                        "authorization",
                        "user-agent",
                        "accept-encoding",
                        "openai-organization",
                        "openai-project",
                        "content-type",
                        "accept",
                        "openai-beta",
                        "idempotency-key");
        assertThat(r.headers().allValues("authorization")).containsExactly("Bearer sk-server-0001");
        assertThat(r.headers().firstValue("content-type")).contains("application/json; charset=utf-8");
        assertThat(r.headers().firstValue("accept")).contains("text/event-stream");
    }

    @Test
    void passThroughWithoutBodySendsNoContentType() {
        UpstreamRequest r = requests.passThrough(
                "GET", "/v1/models", null, HttpHeaders.of(Map.of(), (n, v) -> true), new byte[0], KEY);

        assertThat(r.headers().firstValue("content-type")).isEmpty();
        assertThat(r.headers().firstValue("accept")).contains("application/json");
    }

    @Test
    void toStringNeverShowsTheKey() {
        UpstreamRequest r = requests.json("/v1/chat/completions", new byte[0], false, KEY);

        assertThat(r.toString()).doesNotContain("sk-server-0001");
    }
}
