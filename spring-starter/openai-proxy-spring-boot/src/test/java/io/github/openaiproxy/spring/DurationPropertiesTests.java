package io.github.openaiproxy.spring;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.context.properties.source.MapConfigurationPropertySource;

/**
 * A plain number is seconds in every duration property, as in the other configuration sources (README): a
 * property bound by Spring's default unit (milliseconds) would make an upstream's 30 s timeout 30 ms.
 */
class DurationPropertiesTests {
    private static OpenAiProxyProperties bind(Map<String, String> values) {
        return new Binder(new MapConfigurationPropertySource(values))
                .bind("openai.proxy", OpenAiProxyProperties.class)
                .get();
    }

    @Test
    void aPlainNumberIsSecondsInTheUpstreamAndLedgerProperties() {
        OpenAiProxyProperties p = bind(Map.of(
                "openai.proxy.upstreams.local.base-url", "http://127.0.0.1:8000/v1",
                "openai.proxy.upstreams.local.connect-timeout", "3",
                "openai.proxy.upstreams.local.timeout", "30",
                "openai.proxy.upstreams.local.key-cooldown", "7",
                "openai.proxy.upstreams.local.retry-deadline", "40",
                "openai.proxy.upstreams.local.breaker-open", "50",
                "openai.proxy.ledger.retention", "3600",
                "openai.proxy.response-timeout", "60"));

        OpenAiProxyProperties.UpstreamProperties local = p.getUpstreams().get("local");
        assertThat(local.getConnectTimeout()).isEqualTo(Duration.ofSeconds(3));
        assertThat(local.getTimeout()).isEqualTo(Duration.ofSeconds(30));
        assertThat(local.getKeyCooldown()).isEqualTo(Duration.ofSeconds(7));
        assertThat(local.getRetryDeadline()).isEqualTo(Duration.ofSeconds(40));
        assertThat(local.getBreakerOpen()).isEqualTo(Duration.ofSeconds(50));
        assertThat(p.getLedger().getRetention()).isEqualTo(Duration.ofHours(1));
        assertThat(p.getResponseTimeout()).isEqualTo(Duration.ofMinutes(1));
    }
}
