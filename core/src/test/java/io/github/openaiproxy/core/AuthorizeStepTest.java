package io.github.openaiproxy.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.internal.Glob;
import io.github.openaiproxy.core.route.PassThroughRoute;
import io.github.openaiproxy.core.route.Route;
import io.github.openaiproxy.core.route.RouteTable;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The model globs ({@link Glob}, shared with upstreams) and the route names a policy's rules are written in. */
class AuthorizeStepTest {
    @Test
    void globsMatchWholeNamesWithStarsAnywhere() {
        assertThat(Glob.matches("gpt-4o*", "gpt-4o-mini")).isTrue();
        assertThat(Glob.matches("gpt-4o*", "gpt-4o")).isTrue();
        assertThat(Glob.matches("gpt-4o*", "gpt-4")).isFalse();
        assertThat(Glob.matches("gpt-4o", "gpt-4o-mini")).isFalse();
        assertThat(Glob.matches("*", "")).isTrue();
        assertThat(Glob.matches("*-mini", "gpt-4o-mini")).isTrue();
        assertThat(Glob.matches("gpt-*-mini", "gpt-4o-mini-2024")).isFalse();
        assertThat(Glob.matches("a*b*c", "axxbyybzc")).isTrue();
        assertThat(Glob.matches("a*b*c", "axxcyyb")).isFalse();
        assertThat(Glob.matches("", "x")).isFalse();
        assertThat(Glob.matches("GPT-4o", "gpt-4o"))
                .as("case matters, as upstream")
                .isFalse();
    }

    @Test
    void routesAreNamedByWhatTheyDo() {
        RouteTable table = RouteTable.of(java.util.List.of(
                new PassThroughRoute("POST", "/v1/chat/completions"),
                new PassThroughRoute("POST", "/v1/images/edits"),
                new PassThroughRoute("POST", "/v1/responses"),
                new PassThroughRoute("GET", "/v1/models/{id}"),
                new PassThroughRoute("POST", "/v1/audio/speech")));
        Map<String, String> names = new LinkedHashMap<>();
        for (Route r : table.routes()) {
            names.put(r.template(), AuthorizeStep.nameOf(r));
        }
        assertThat(names)
                .containsExactly(
                        Map.entry("/", "chat"),
                        Map.entry("/images/generations", "images"),
                        Map.entry("/generate-image", "images"),
                        Map.entry("/v1/chat/completions", "chat"),
                        Map.entry("/v1/images/edits", "images"),
                        Map.entry("/v1/responses", "responses"),
                        Map.entry("/v1/models/{id}", "models"),
                        Map.entry("/v1/audio/speech", "audio"));
    }
}
