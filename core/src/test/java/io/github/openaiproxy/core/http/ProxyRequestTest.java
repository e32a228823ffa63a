package io.github.openaiproxy.core.http;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

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
}
