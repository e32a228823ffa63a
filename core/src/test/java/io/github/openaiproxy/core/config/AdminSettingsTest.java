package io.github.openaiproxy.core.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.access.AccessConfig;
import io.github.openaiproxy.core.access.ProxyKey;
import io.github.openaiproxy.core.access.ProxyKeys;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** {@code admin.*} and {@code access.keys} from text settings and the environment onto core's configuration. */
class AdminSettingsTest {
    static final String HASH = ProxyKeys.hash("admin-token");
    static final String OTHER = ProxyKeys.hash("other-token");

    @Test
    void offByDefault() {
        AccessConfig access = ProxySettings.from(Map.of()).toConfig().access();
        assertThat(access.admin()).isEqualTo(AccessConfig.Admin.OFF);
        assertThat(access.declaredKeys()).isEmpty();
        assertThat(access.isDefault()).isTrue();
    }

    @Test
    void everyAdminSettingReachesTheConfiguration() {
        ProxyConfig c = ProxySettings.fromEnvironment(Map.of(
                        "OPENAI_PROXY_ADMIN_ENABLED", "true",
                        "OPENAI_PROXY_ADMIN_PATH", "/ops/admin",
                        "OPENAI_PROXY_ADMIN_TOKENS", HASH.toUpperCase(java.util.Locale.ROOT) + " , " + OTHER,
                        "OPENAI_PROXY_ADMIN_ROLE", "proxy-admin",
                        "OPENAI_PROXY_ACCESS_KEYS", OTHER + ":batch:ci, " + HASH + ":keys:deploy"))
                .toConfig();
        assertThat(c.access().admin())
                .isEqualTo(new AccessConfig.Admin(true, "/ops/admin", List.of(HASH, OTHER), "proxy-admin"));
        assertThat(c.access().declaredKeys())
                .extracting(ProxyKey::id, ProxyKey::hash, ProxyKey::policy, ProxyKey::name)
                .containsExactly(
                        org.assertj.core.groups.Tuple.tuple("config-ci", OTHER, "batch", "ci"),
                        org.assertj.core.groups.Tuple.tuple("config-deploy", HASH, "keys", "deploy"));
    }

    @Test
    void aProxyKeyWhereItsHashBelongsIsRefusedWithoutRepeatingItOrTheOtherEntries() {
        String key = ProxyKeys.generate().secret();
        for (Map<String, String> source : List.of(
                Map.of("access.keys", HASH + ":keys:ci, " + key + ":keys:deploy"), Map.of("access.keys", key))) {
            assertThatThrownBy(() -> ProxySettings.from(source).toConfig())
                    .isInstanceOfSatisfying(
                            InvalidSettingException.class,
                            e -> assertThat(e.value()).isNull())
                    .hasMessageContaining("access.keys")
                    .hasMessageNotContaining(key.substring(ProxyKeys.PREFIX.length()))
                    .hasMessageNotContaining(HASH);
        }
        assertThatThrownBy(() -> ProxySettings.fromEnvironment(Map.of("OPENAI_PROXY_ACCESS_KEYS", key + ":keys:ci"))
                        .toConfig())
                .hasMessageContaining("OPENAI_PROXY_ACCESS_KEYS")
                .hasMessageNotContaining(key.substring(ProxyKeys.PREFIX.length()));
    }

    @Test
    void aTokenWhereItsHashBelongsIsRefusedWithoutRepeatingIt() {
        assertThatThrownBy(() -> ProxySettings.from(Map.of("admin.tokens", "my-secret-admin-token"))
                        .toConfig())
                .isInstanceOf(InvalidSettingException.class)
                .hasMessageContaining("admin.tokens")
                .hasMessageNotContaining("my-secret-admin-token");
    }

    @Test
    void badPathsAndKeyEntriesAreRefusedNamingTheKey() {
        for (String path : List.of("admin", "/", "/admin/", "/a b", "/../x", "/a//b")) {
            assertThatThrownBy(
                            () -> ProxySettings.from(Map.of("admin.path", path)).toConfig())
                    .as(path)
                    .hasMessageContaining("admin.path");
        }
        for (String entry : List.of(
                "ci",
                HASH + ":keys",
                HASH + ":keys:ci:extra",
                HASH.substring(1) + ":keys:ci",
                "zz" + HASH.substring(2) + ":keys:ci",
                HASH + ":k eys:ci",
                HASH + ":keys:" + "n".repeat(65),
                HASH + ":keys:ci," + OTHER + ":keys:ci",
                HASH + ":keys:ci," + HASH + ":keys:other")) {
            assertThatThrownBy(() ->
                            ProxySettings.from(Map.of("access.keys", entry)).toConfig())
                    .as(entry)
                    .isInstanceOf(InvalidSettingException.class)
                    .hasMessageContaining("access.keys");
        }
    }
}
