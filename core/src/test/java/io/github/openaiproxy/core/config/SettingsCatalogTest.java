package io.github.openaiproxy.core.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.openaiproxy.core.ProxyConfig;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Core's catalog of settings: its defaults are core's, and one binder reads every source through it. */
class SettingsCatalogTest {
    @Test
    void theCatalogsDefaultsAreCoresDefaults() {
        // Every default written out as if a user had set it: the result must be core's default configuration.
        Map<String, String> all = new HashMap<>();
        for (Setting s : ProxySettings.CATALOG.settings()) {
            // A templated setting (policies.<name>.over-cap) has a default only once it is named.
            if (s.defaultValue() != null && !s.isTemplate()) {
                all.put(s.key(), s.defaultValue());
            }
        }
        assertThat(all).containsKeys("cors.allowed-headers", "pass-through-routes", "max-body-size");
        ProxySettings settings = ProxySettings.from(all);
        assertThat(settings.toConfig().toString())
                .isEqualTo(ProxyConfig.defaults().toString());
        assertThat(settings.sessionStore()).isEqualTo("auto");
        assertThat(settings.sessionRetention()).isNull();
    }

    @Test
    void everySettingHasADescriptionAndItsOwnEnvironmentVariable() {
        List<String> names = ProxySettings.CATALOG.settings().stream()
                .map(Setting::environmentName)
                .toList();
        assertThat(names).doesNotHaveDuplicates().allMatch(n -> n.startsWith("OPENAI_"));
        assertThat(ProxySettings.CATALOG.settings())
                .allMatch(s -> !s.description().isBlank());
        assertThat(ProxySettings.KEYS).contains("sessions.store", "sessions.retention");
    }

    @Test
    void aRefusedValueNamesTheKeyTheValueAndTheReason() {
        assertThatThrownBy(() -> ProxySettings.from(Map.of("limits.max-concurrent-upstream-calls", "x"))
                        .toConfig())
                .isInstanceOf(InvalidSettingException.class)
                .hasMessage("Invalid value 'x' for setting 'limits.max-concurrent-upstream-calls': not a whole number");
        assertThatThrownBy(() ->
                        ProxySettings.from(Map.of("upstream-client", "netty")).toConfig())
                .hasMessage("Invalid value 'netty' for setting 'upstream-client': expected auto, jetty or jdk");
        // Core's own refusal (a negative cap), named by the binder.
        assertThatThrownBy(() -> ProxySettings.from(Map.of("limits.max-concurrent-upstream-calls", "-1"))
                        .toConfig())
                .isInstanceOfSatisfying(InvalidSettingException.class, e -> {
                    assertThat(e.key()).isEqualTo("limits.max-concurrent-upstream-calls");
                    assertThat(e.value()).isEqualTo("-1");
                })
                .hasMessageStartingWith("Invalid value '-1' for setting 'limits.max-concurrent-upstream-calls': ");
    }

    @Test
    void environmentErrorsNameTheVariableToo() {
        assertThatThrownBy(() -> ProxySettings.fromEnvironment(Map.of("OPENAI_PROXY_SESSIONS_STORE", "disk"))
                        .sessionStore())
                .hasMessage("Invalid value 'disk' for setting 'sessions.store' (environment variable"
                        + " OPENAI_PROXY_SESSIONS_STORE): expected auto, jdbc or memory");
        assertThatThrownBy(() -> ProxySettings.fromEnvironment(Map.of("OPENAI_PROXY_SESSIONS_RETENTION", "0s"))
                        .sessionRetention())
                .hasMessageContaining("OPENAI_PROXY_SESSIONS_RETENTION")
                .hasMessageContaining("must be positive");
        assertThat(ProxySettings.fromEnvironment(Map.of("OPENAI_PROXY_SESSIONS_RETENTION", "30d"))
                        .sessionRetention())
                .isEqualTo(Duration.ofDays(30));
    }

    @Test
    void aRefusedApiKeyIsNeverRepeated() {
        String key = "sk-secret\u00a0pasted-4242";
        assertThatThrownBy(() -> ProxySettings.from(Map.of("api-key", key)).toConfig())
                .isInstanceOfSatisfying(
                        InvalidSettingException.class,
                        e -> assertThat(e.value()).isNull())
                .hasMessageContaining("'api-key'")
                .hasMessageNotContaining("sk-secret")
                .hasMessageNotContaining("4242");
    }

    @Test
    void theCorsCredentialsCheckNamesTheKeyThatBrokeIt() {
        assertThatThrownBy(
                        () -> ProxySettings.from(Map.of("cors.allowed-origins", "*", "cors.allow-credentials", "true"))
                                .toConfig())
                .isInstanceOfSatisfying(
                        InvalidSettingException.class, e -> assertThat(e.key()).isEqualTo("cors.allow-credentials"));
    }

    @Test
    void originPatternsFromBothKeysAddUp() {
        ProxyConfig c = ProxySettings.from(Map.of(
                        "cors.allowed-origins", "https://a.example.com, http://localhost:*",
                        "cors.allowed-origin-patterns", "https://*.example.org"))
                .toConfig();
        assertThat(c.cors().allowedOrigins()).containsExactly("https://a.example.com");
        assertThat(c.cors().allowedOriginPatterns()).containsExactly("http://localhost:*", "https://*.example.org");
    }

    @Test
    void aSourceThatPassesBlanksOnGetsAnEmptyListAndCoreJudgesBlankText() {
        SettingsBinder binder = SettingsBinder.of(ProxySettings.CATALOG, Map.of("cors.allowed-headers", " ")::get);
        assertThat(ProxySettings.from(binder).toConfig().cors().allowedHeaders())
                .isEmpty();
        SettingsBinder blankModel = SettingsBinder.of(ProxySettings.CATALOG, Map.of("chat.model", "")::get);
        assertThatThrownBy(() -> ProxySettings.from(blankModel).toConfig())
                .isInstanceOfSatisfying(
                        InvalidSettingException.class, e -> assertThat(e.key()).isEqualTo("chat.model"));
        // Environment and init parameters: blank is unset.
        assertThat(ProxySettings.from(Map.of("chat.model", " ", "cors.allowed-headers", ""))
                        .toConfig()
                        .toString())
                .isEqualTo(ProxyConfig.defaults().toString());
    }

    @Test
    void catalogsJoinButNeverRedeclareAKey() {
        SettingsCatalog extra = SettingsCatalog.of(Setting.of("extra.n", Setting.Type.INT, "1", "An extra."));
        assertThat(SettingsCatalog.concat(ProxySettings.CATALOG, extra).keys())
                .endsWith("extra.n")
                .hasSize(ProxySettings.KEYS.size() + 1);
        assertThatThrownBy(() -> SettingsCatalog.concat(ProxySettings.CATALOG, ProxySettings.CATALOG))
                .hasMessageContaining("declared twice");
        assertThatThrownBy(() -> SettingsBinder.of(extra, k -> null).value("nope"))
                .hasMessageContaining("no setting nope");
    }
}
