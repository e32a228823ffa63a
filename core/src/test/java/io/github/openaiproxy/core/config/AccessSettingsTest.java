package io.github.openaiproxy.core.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.openaiproxy.core.access.AccessConfig;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The identity settings ({@code access.anonymous}, {@code access.trusted-proxies}, {@code access.jwt.*}). */
class AccessSettingsTest {
    @Test
    void unsetTheyAreTheDefaults() {
        assertThat(ProxySettings.from(Map.of()).toConfig().access()).isEqualTo(AccessConfig.DEFAULTS);
    }

    @Test
    void environmentVariablesReachTheAccessConfiguration() {
        AccessConfig access = ProxySettings.fromEnvironment(Map.of(
                        "OPENAI_PROXY_ACCESS_ANONYMOUS", "DENY",
                        "OPENAI_PROXY_ACCESS_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.7, fd00::/8",
                        "OPENAI_PROXY_ACCESS_JWT_ISSUER", "https://login.example.com",
                        "OPENAI_PROXY_ACCESS_JWT_AUDIENCE", "chat",
                        "OPENAI_PROXY_ACCESS_JWT_JWKS_URL", "https://login.example.com/jwks"))
                .toConfig()
                .access();

        assertThat(access.anonymous()).isEqualTo(AccessConfig.Anonymous.DENY);
        assertThat(access.trustedProxies()).containsExactly("10.0.0.0/8", "192.168.1.7", "fd00::/8");
        assertThat(access.jwt())
                .isEqualTo(new AccessConfig.Jwt("https://login.example.com", "chat", "https://login.example.com/jwks"));
    }

    @Test
    void refusedValuesNameTheirSetting() {
        assertThatThrownBy(() ->
                        ProxySettings.from(Map.of("access.anonymous", "maybe")).toConfig())
                .isInstanceOf(InvalidSettingException.class)
                .hasMessageContaining("access.anonymous");
        assertThatThrownBy(() -> ProxySettings.from(Map.of("access.trusted-proxies", "10.0.0.0/33"))
                        .toConfig())
                .isInstanceOf(InvalidSettingException.class)
                .hasMessageContaining("access.trusted-proxies")
                .hasMessageContaining("prefix length");
        assertThatThrownBy(() -> ProxySettings.from(Map.of("access.trusted-proxies", "proxy.example.com"))
                        .toConfig())
                .isInstanceOf(InvalidSettingException.class)
                .hasMessageContaining("not an IP address");
        assertThatThrownBy(() -> ProxySettings.from(Map.of("access.jwt.issuer", "https://login.example.com"))
                        .toConfig())
                .isInstanceOf(InvalidSettingException.class)
                .hasMessageContaining("access.jwt.issuer")
                .hasMessageContaining("access.jwt.audience must be set too");
        assertThatThrownBy(() -> ProxySettings.from(Map.of(
                                "access.jwt.issuer",
                                "i",
                                "access.jwt.audience",
                                "a",
                                "access.jwt.jwks-url",
                                "ftp://x/"))
                        .toConfig())
                .isInstanceOf(InvalidSettingException.class)
                .hasMessageContaining("access.jwt.jwks-url");
    }
}
