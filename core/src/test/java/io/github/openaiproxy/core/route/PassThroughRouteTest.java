package io.github.openaiproxy.core.route;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatIllegalArgumentException;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class PassThroughRouteTest {

    @Test
    void parsesMethodAndPath() {
        assertThat(PassThroughRoute.parse("POST /v1/chat/completions"))
                .isEqualTo(new PassThroughRoute("POST", "/v1/chat/completions"));
    }

    @Test
    void parsingToleratesCaseAndExtraWhitespace() {
        PassThroughRoute route = PassThroughRoute.parse("  get \t /v1/models/{id}  ");

        assertThat(route.method()).isEqualTo("GET");
        assertThat(route.template()).isEqualTo("/v1/models/{id}");
        assertThat(route).hasToString("GET /v1/models/{id}");
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "POST", "/v1/chat/completions", "POST /v1/a /v1/b"})
    void refusesSpecsThatAreNotMethodAndPath(String spec) {
        assertThatIllegalArgumentException()
                .isThrownBy(() -> PassThroughRoute.parse(spec))
                .withMessageContaining("METHOD /v1/path");
    }

    @ParameterizedTest
    @ValueSource(strings = {"HEAD /v1/models", "OPTIONS /v1/models", "CONNECT /v1/models", "FOO /v1/models"})
    void refusesOtherMethods(String spec) {
        assertThatIllegalArgumentException()
                .isThrownBy(() -> PassThroughRoute.parse(spec))
                .withMessageContaining("method");
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "POST /chat/completions",
                "POST /v1",
                "POST v1/chat",
                "POST /v2/chat",
                "GET /v1/../admin",
                "GET /v1/models?x=1"
            })
    void refusesPathsOutsideV1(String spec) {
        assertThatIllegalArgumentException()
                .isThrownBy(() -> PassThroughRoute.parse(spec))
                .withMessageContaining("/v1/");
    }

    @Test
    void onlyTheBuiltInPostRoutesRequireJson() {
        assertThat(new PassThroughRoute("POST", "/v1/chat/completions").requiresJson())
                .isTrue();
        assertThat(new PassThroughRoute("GET", "/v1/models").requiresJson()).isFalse();
        assertThat(new PassThroughRoute("POST", "/v1/audio/transcriptions").requiresJson())
                .isFalse();
    }
}
