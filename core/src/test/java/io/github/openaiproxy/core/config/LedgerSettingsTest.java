package io.github.openaiproxy.core.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.openaiproxy.core.usage.ledger.LedgerConfig;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** {@code ledger.query-timeout} reaches core from text and from the environment; a value JDBC cannot keep is refused. */
class LedgerSettingsTest {
    @Test
    void theQueryTimeoutIs30SecondsByDefault() {
        LedgerConfig c = ProxySettings.from(Map.of()).toConfig().ledger();
        assertThat(c.queryTimeout()).isEqualTo(Duration.ofSeconds(30)).isEqualTo(LedgerConfig.DEFAULT_QUERY_TIMEOUT);
    }

    @Test
    void theQueryTimeoutIsASetting() {
        assertThat(ProxySettings.from(Map.of("ledger.query-timeout", "5s"))
                        .toConfig()
                        .ledger()
                        .queryTimeout())
                .isEqualTo(Duration.ofSeconds(5));
        assertThat(ProxySettings.fromEnvironment(Map.of("OPENAI_PROXY_LEDGER_QUERY_TIMEOUT", "2m"))
                        .toConfig()
                        .ledger()
                        .queryTimeout())
                .isEqualTo(Duration.ofMinutes(2));
    }

    @ParameterizedTest
    @ValueSource(strings = {"0s", "-1s", "500ms", "2h"})
    void aQueryTimeoutJdbcCannotKeepIsRefusedNamingTheKey(String value) {
        assertThatThrownBy(() -> ProxySettings.from(Map.of("ledger.query-timeout", value))
                        .toConfig())
                .isInstanceOf(InvalidSettingException.class)
                .hasMessageContaining("ledger.query-timeout");
    }
}
