package io.github.openaiproxy.core.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ProxyRequestTest {

    @Test
    void methodIsKeptAsSentAndAnEmptyPathIsTheRoot() {
        ProxyRequest r = ProxyRequest.builder("post", "").build();

        assertThat(r.method()).isEqualTo("post"); // methods are case-sensitive: "post" is not POST
        assertThat(r.path()).isEqualTo("/");
    }

    @Test
    void emptyQueryMeansNone() {
        assertThat(ProxyRequest.builder("GET", "/v1/models")
                        .rawQuery("")
                        .build()
                        .rawQuery())
                .isEmpty();
        assertThat(ProxyRequest.builder("GET", "/v1/models")
                        .rawQuery("a=1")
                        .build()
                        .rawQuery())
                .contains("a=1");
    }

    @Test
    void headerNamesAreCaseInsensitiveAndValuesAccumulate() {
        ProxyRequest r = ProxyRequest.builder("GET", "/")
                .header("Accept", "text/event-stream")
                .header("accept", "application/json")
                .build();

        assertThat(r.headers().allValues("ACCEPT")).containsExactly("text/event-stream", "application/json");
        assertThat(r.header("aCCept")).contains("text/event-stream");
    }

    @Test
    void toStringLeavesHeadersOut() {
        ProxyRequest r = ProxyRequest.builder("POST", "/")
                .header("x-openai-key", "sk-client-secret-0002")
                .build();

        assertThat(r.toString()).isEqualTo("ProxyRequest[POST /]");
    }

    @Test
    void aBasePathLosesItsTrailingSlashAndTheRootIsEmpty() {
        assertThat(ProxyRequest.builder("GET", "/").build().basePath()).isEmpty();
        assertThat(ProxyRequest.builder("GET", "/").basePath("/").build().basePath())
                .contains("");
        assertThat(ProxyRequest.builder("GET", "/")
                        .basePath("/shop/ai/")
                        .build()
                        .basePath())
                .contains("/shop/ai");
    }

    @ParameterizedTest
    @ValueSource(strings = {"//evil.example/ai", "/shop//ai", "shop", "/a b", "/a\"b", "/a?b", "/a#b", "/a\\b"})
    void aBasePathThatCouldMakeALinkPointElsewhereIsRefused(String path) {
        ProxyRequest.Builder b = ProxyRequest.builder("GET", "/");
        assertThatThrownBy(() -> b.basePath(path)).isInstanceOf(IllegalArgumentException.class);
    }
}
