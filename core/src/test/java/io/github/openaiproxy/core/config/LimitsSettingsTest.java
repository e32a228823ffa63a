package io.github.openaiproxy.core.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.access.Policy;
import io.github.openaiproxy.core.limits.LimitsConfig;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The limits.* settings and the policy rule unpriced reach core, from text and from the environment; bad values
 * name their key; a shared store the engine cannot make says what it needs.
 */
class LimitsSettingsTest {
    @Test
    void defaultsCountInMemory() {
        LimitsConfig c = ProxySettings.from(Map.of()).toConfig().limits();
        assertThat(c).isEqualTo(LimitsConfig.DEFAULTS);
        assertThat(c.store()).isEqualTo(LimitsConfig.Store.MEMORY);
        assertThat(c.defaultOutputTokens()).isEqualTo(4096);
        assertThat(c.leaseTimeout()).isEqualTo(Duration.ofMinutes(10));
        assertThat(c.storeTimeout()).isEqualTo(Duration.ofSeconds(2));
        assertThat(c.rateLimitsWhenDown()).isEqualTo(LimitsConfig.WhenDown.ALLOW);
        assertThat(c.budgetsWhenDown()).isEqualTo(LimitsConfig.WhenDown.REFUSE);
    }

    @Test
    void everySettingIsApplied() {
        ProxyConfig config = ProxySettings.from(Map.of(
                        "limits.store", "redis",
                        "limits.redis-url", "redis://127.0.0.1:6379",
                        "limits.default-output-tokens", "1000",
                        "limits.lease-timeout", "2m",
                        "limits.store-timeout", "750ms",
                        "limits.rate-limits-when-down", "refuse",
                        "limits.budgets-when-down", "allow",
                        "policies.gold.unpriced", "default"))
                .toConfig();
        LimitsConfig c = config.limits();
        assertThat(c.store()).isEqualTo(LimitsConfig.Store.REDIS);
        assertThat(c.redisUrl()).isEqualTo("redis://127.0.0.1:6379");
        assertThat(c.defaultOutputTokens()).isEqualTo(1000);
        assertThat(c.leaseTimeout()).isEqualTo(Duration.ofMinutes(2));
        assertThat(c.storeTimeout()).isEqualTo(Duration.ofMillis(750));
        assertThat(c.rateLimitsWhenDown()).isEqualTo(LimitsConfig.WhenDown.REFUSE);
        assertThat(c.budgetsWhenDown()).isEqualTo(LimitsConfig.WhenDown.ALLOW);
        assertThat(config.access().policies().get("gold").quotas().unpriced()).isEqualTo(Policy.Unpriced.DEFAULT);
    }

    @Test
    void theEnvironmentSetsThemToo() {
        LimitsConfig c = ProxySettings.fromEnvironment(
                        Map.of("OPENAI_PROXY_LIMITS_STORE", "jdbc", "OPENAI_PROXY_LIMITS_REDIS_URL", "redis://r:6379"))
                .toConfig()
                .limits();
        assertThat(c.store()).isEqualTo(LimitsConfig.Store.JDBC);
        assertThat(c.redisUrl()).isEqualTo("redis://r:6379");
    }

    @Test
    void badValuesNameTheirKey() {
        assertThatThrownBy(
                        () -> ProxySettings.from(Map.of("limits.store", "etcd")).toConfig())
                .isInstanceOf(InvalidSettingException.class)
                .hasMessageContaining("limits.store");
        assertThatThrownBy(() ->
                        ProxySettings.from(Map.of("limits.lease-timeout", "0s")).toConfig())
                .isInstanceOf(InvalidSettingException.class)
                .hasMessageContaining("limits.lease-timeout");
        assertThatThrownBy(() ->
                        ProxySettings.from(Map.of("limits.store-timeout", "0s")).toConfig())
                .isInstanceOf(InvalidSettingException.class)
                .hasMessageContaining("limits.store-timeout");
        assertThatThrownBy(() -> ProxySettings.from(Map.of("limits.default-output-tokens", "-1"))
                        .toConfig())
                .isInstanceOf(InvalidSettingException.class)
                .hasMessageContaining("limits.default-output-tokens");
        assertThatThrownBy(() -> ProxySettings.from(Map.of("policies.gold.unpriced", "free"))
                        .toConfig())
                .isInstanceOf(InvalidSettingException.class)
                .hasMessageContaining("policies.gold.unpriced");
    }

    @Test
    void theRedisUrlsPasswordIsNeverShown() {
        String url = "redis://:s3cret-pass@127.0.0.1:6379";
        LimitsConfig c =
                ProxySettings.from(Map.of("limits.redis-url", url)).toConfig().limits();
        assertThat(c.redisUrl()).isEqualTo(url);
        assertThat(c.toString()).doesNotContain("s3cret");
    }

    @Test
    void aSharedStoreWithoutWhatItNeedsFailsClearly() {
        ProxyConfig redis = ProxySettings.from(Map.of("limits.store", "redis")).toConfig();
        assertThatThrownBy(() -> ProxyEngine.create(redis))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("limits.store=redis needs limits.redis-url");
        ProxyConfig jdbc = ProxySettings.from(Map.of("limits.store", "jdbc")).toConfig();
        assertThatThrownBy(() -> ProxyEngine.create(jdbc))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("limits.store=jdbc needs the application's database");
    }
}
