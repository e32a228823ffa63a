package io.github.openaiproxy.core.route;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.error.ErrorStyle;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class RouteTableTest {
    private final RouteTable table = RouteTable.of(PassThroughRoute.DEFAULTS);

    @ParameterizedTest(name = "{0} -> {1}")
    @CsvSource({
        "/, /",
        "/images/generations, /images/generations",
        "/generate-image, /generate-image",
        "/v1/chat/completions, /v1/chat/completions",
        "/v1/images/generations, /v1/images/generations",
        "/v1/embeddings, /v1/embeddings",
        "/v1/responses, /v1/responses",
        "/v1/models, /v1/models",
        "/v1/models/gpt-4o, /v1/models/{id}",
        "/v1/models/ft:gpt-4o-mini:org:custom:abc123, /v1/models/{id}",
        "/v1/models/my%20model, /v1/models/{id}",
        "/v1/models/meta-llama/Llama-3.1-8B-Instruct, /v1/models/{id}",
        "/v1/models/meta-llama%2FLlama-3.1-8B-Instruct, /v1/models/{id}",
        "/v1/models/meta-llama%2fLlama-3.1-8B-Instruct, /v1/models/{id}",
        "/v1/models/hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M, /v1/models/{id}",
        "/v1/models/ft:gpt-4o-mini-2024-07-18:org::AbC123, /v1/models/{id}",
        "/v1/models/ft%3Agpt-4o-mini-2024-07-18%3Aorg%3A%3AAbC123, /v1/models/{id}"
    })
    void findsTheRouteForAPath(String path, String template) {
        assertThat(table.match(path))
                .hasValueSatisfying(r -> assertThat(r.template()).isEqualTo(template));
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "/chat",
                "/images",
                "/images/generations/extra",
                "/images/generations/",
                "/generate-image/",
                "//images/generations",
                "/images/generations;jsessionid=x",
                "/Images/generations",
                "/images/generations%2F",
                "/;x",
                "/v1/chat/completions/",
                "/v1/models/",
                "/v1/models/gpt-4o/",
                "/v1/models/gpt-4o;x",
                "/v1",
                "/v1/",
                "/v1/chat",
                "/v1/chat/completions/extra",
                "/v1/chat//completions",
                "/v1/chat/completions//",
                "/V1/chat/completions",
                "/v1/chat%2Fcompletions",
                "/v1/files",
                "/v1/models//b",
                "/v1/models/a//b",
                "/v1/models/a/"
            })
    void answersNothingForOtherPaths(String path) {
        assertThat(table.match(path)).isEmpty();
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "/v1/models/..",
                "/v1/models/.",
                "/v1/models/%2e%2e",
                "/v1/models/%2E%2E",
                "/v1/models/.%2e",
                "/v1/models/%2e",
                "/v1/models/a/..",
                "/v1/models/a/../../files",
                "/v1/models/../files",
                "/v1/models/./files",
                "/v1/models/a/%2e%2e/files",
                "/v1/models/a%2F..%2F..%2Ffiles",
                "/v1/models/a%2f%2e%2e%2ffiles",
                "/v1/models/..%2Ffiles",
                "/v1/models/a%2F%2Fb",
                "/v1/models/a%2F",
                "/v1/models/%2Fa",
                "/v1/models/a%252F..%252Ffiles",
                "/v1/models/a%5Cb",
                "/v1/models/a%5C..%5Cfiles",
                "/v1/models/a%3Fb",
                "/v1/models/a%23b",
                "/v1/models/a%00b",
                "/v1/models/a%0Ab",
                "/v1/models/%zz",
                "/v1/models/%"
            })
    void refusesUnsafeVariableSegments(String path) {
        assertThat(table.match(path)).isEmpty();
    }

    @Test
    void refusesOverlongVariableSegments() {
        assertThat(table.match("/v1/models/" + "a".repeat(257))).isEmpty();
        assertThat(table.match("/v1/models/" + "a".repeat(256))).isPresent();
        assertThat(table.match("/v1/models/" + "a/".repeat(128) + "a")).isEmpty();
        assertThat(table.match("/v1/models/" + "a%2F".repeat(127) + "ab")).isPresent();
    }

    @Test
    void simpleRoutesTakePostWithJsonAndAnswerInTheSeedShape() {
        for (String path : List.of("/", "/images/generations", "/generate-image")) {
            Route route = table.match(path).orElseThrow();
            assertThat(route.methods()).containsExactly("POST");
            assertThat(route.requiresJson()).isTrue();
            assertThat(route.errorStyle()).isEqualTo(ErrorStyle.SIMPLE);
        }
        assertThat(table.match("/").orElseThrow().kind()).isEqualTo(RouteKind.CHAT_OR_IMAGE);
        assertThat(table.match("/generate-image").orElseThrow().kind()).isEqualTo(RouteKind.IMAGE);
    }

    @Test
    void passThroughRoutesAnswerInOpenAiShape() {
        Route route = table.match("/v1/chat/completions").orElseThrow();

        assertThat(route.kind()).isEqualTo(RouteKind.PASS_THROUGH);
        assertThat(route.errorStyle()).isEqualTo(ErrorStyle.OPENAI);
        assertThat(route.requiresJson()).isTrue();
        assertThat(table.match("/v1/models").orElseThrow().methods()).containsExactlyInAnyOrder("GET", "HEAD");
    }

    @Test
    void routesSharingATemplateShareOneRouteWithAllMethods() {
        RouteTable custom = RouteTable.of(List.of(
                new PassThroughRoute("GET", "/v1/files/{id}"), new PassThroughRoute("DELETE", "/v1/files/{id}")));

        Route route = custom.match("/v1/files/file-abc").orElseThrow();

        assertThat(route.methods()).isEqualTo(Set.of("GET", "HEAD", "DELETE"));
        assertThat(route.allowHeader()).isEqualTo("DELETE, GET, HEAD, OPTIONS");
        assertThat(route.requiresJson())
                .as("user-added routes take any content type")
                .isFalse();
    }

    @Test
    void allowHeaderListsOptionsToo() {
        assertThat(table.match("/").orElseThrow().allowHeader()).isEqualTo("OPTIONS, POST");
    }

    @Test
    void withoutPassThroughRoutesOnlyTheSimpleRoutesExist() {
        RouteTable simple = RouteTable.of(List.of());

        assertThat(simple.routes()).hasSize(3);
        assertThat(simple.match("/v1/chat/completions")).isEmpty();
    }

    @Test
    void aCustomRouteThatAcceptsNoMethodIsRefusedWhenTheEngineIsBuilt() {
        // It would answer every call 405; an application learns it at start-up, with the route named.
        FunctionRoute none = new FunctionRoute("/hooks/none", Set.of(), call -> {
            throw new AssertionError("never called");
        });

        assertThatThrownBy(() -> ProxyEngine.builder(ProxyConfig.builder()
                                .apiKey("sk-test-key-0123456789")
                                .build())
                        .route(none)
                        .build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("/hooks/none")
                .hasMessageContaining("no method");
    }
}
