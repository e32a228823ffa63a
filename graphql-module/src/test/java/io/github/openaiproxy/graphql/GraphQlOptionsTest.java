package io.github.openaiproxy.graphql;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.openaiproxy.core.config.InvalidSettingException;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.config.Setting;
import io.github.openaiproxy.core.config.SettingsCatalog;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class GraphQlOptionsTest {
    @Test
    void unsetKeysKeepTheDefaults() {
        assertThat(GraphQlOptions.fromSettings(k -> null)).isEqualTo(GraphQlOptions.DEFAULTS);
        assertThat(GraphQlOptions.DEFAULTS.path()).isEqualTo("/graphql");
        assertThat(GraphQlOptions.DEFAULTS.introspection()).isTrue();
        assertThat(GraphQlOptions.DEFAULTS.maxUpstreamCalls()).isEqualTo(1);
        assertThat(GraphQlOptions.DEFAULTS.maxResponseSize())
                .as("0: the proxy's max-body-size")
                .isZero();
    }

    @Test
    void readsEveryKeyFromTheEnvironmentNames() {
        Map<String, String> env = Map.of(
                "OPENAI_PROXY_GRAPHQL_ENABLED", "false",
                "OPENAI_PROXY_GRAPHQL_PATH", "/gql",
                "OPENAI_PROXY_GRAPHQL_MAX_DEPTH", "5",
                "OPENAI_PROXY_GRAPHQL_MAX_COMPLEXITY", "50",
                "OPENAI_PROXY_GRAPHQL_MAX_DOCUMENT_SIZE", "1000",
                "OPENAI_PROXY_GRAPHQL_INTROSPECTION", "off",
                "OPENAI_PROXY_GRAPHQL_MAX_UPSTREAM_CALLS", "4",
                "OPENAI_PROXY_GRAPHQL_MAX_RESPONSE_SIZE", "2MB");
        GraphQlOptions o = GraphQlOptions.fromSettings(k -> env.get(GraphQlOptions.environmentName(k)));
        assertThat(o).isEqualTo(new GraphQlOptions(false, "/gql", 5, 50, 1000, false, 4, 2L * 1024 * 1024));
    }

    @Test
    void malformedValuesNameTheirKey() {
        assertThatThrownBy(() -> GraphQlOptions.fromSettings(k -> k.equals("graphql.max-depth") ? "x" : null))
                .hasMessageContaining("graphql.max-depth");
        assertThatThrownBy(() -> GraphQlOptions.fromSettings(k -> k.equals("graphql.introspection") ? "maybe" : null))
                .hasMessageContaining("graphql.introspection");
        assertThatThrownBy(() -> GraphQlOptions.DEFAULTS.withMaxDepth(0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> GraphQlOptions.fromSettings(k -> k.equals("graphql.max-upstream-calls") ? "0" : null))
                .hasMessageContaining("graphql.max-upstream-calls");
        assertThatThrownBy(() -> GraphQlOptions.fromSettings(k -> k.equals("graphql.max-response-size") ? "big" : null))
                .hasMessageContaining("graphql.max-response-size");
    }

    @Test
    void theCatalogsDefaultsAreTheDefaultOptions() {
        Map<String, String> all = new HashMap<>();
        for (Setting s : GraphQlOptions.SETTINGS.settings()) {
            if (s.defaultValue() != null) {
                all.put(s.key(), s.defaultValue());
            }
        }
        assertThat(GraphQlOptions.fromSettings(all::get)).isEqualTo(GraphQlOptions.DEFAULTS);
        // Every record component is a setting, and the module's keys never clash with core's.
        assertThat(GraphQlOptions.SETTINGS.keys()).hasSize(GraphQlOptions.class.getRecordComponents().length);
        assertThat(SettingsCatalog.concat(ProxySettings.CATALOG, GraphQlOptions.SETTINGS)
                        .keys())
                .containsAll(GraphQlOptions.SETTINGS.keys());
    }

    @Test
    void aRefusedValueNamesKeyValueAndReasonAndATrailingSlashIsDropped() {
        assertThatThrownBy(() -> GraphQlOptions.fromSettings(k -> k.equals("graphql.max-depth") ? "0" : null))
                .isInstanceOf(InvalidSettingException.class)
                .hasMessageStartingWith("Invalid value '0' for setting 'graphql.max-depth': ");
        assertThatThrownBy(() -> GraphQlOptions.fromSettings(k -> k.equals("graphql.path") ? "graphql" : null))
                .hasMessageStartingWith("Invalid value 'graphql' for setting 'graphql.path': ");
        assertThat(GraphQlOptions.fromSettings(k -> k.equals("graphql.path") ? "/gql/" : null)
                        .path())
                .isEqualTo("/gql");
    }
}
