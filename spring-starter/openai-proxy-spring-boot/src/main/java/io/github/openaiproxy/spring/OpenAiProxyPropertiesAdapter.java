package io.github.openaiproxy.spring;

import io.github.openaiproxy.core.ProxyConfig;
import org.springframework.boot.context.properties.source.InvalidConfigurationPropertyValueException;

/**
 * Maps {@link OpenAiProxyProperties} onto core's {@link ProxyConfig.Builder} through core's one settings
 * binder ({@link OpenAiProxySettings}). Core validates; a value it refuses fails with an
 * {@link InvalidConfigurationPropertyValueException} naming the property, which Spring Boot reports at
 * start-up with where the value came from. Each value is checked as soon as it is set, so the property named
 * is the one that made the configuration invalid (for example {@code openai.proxy.cors.allow-credentials}
 * after {@code *} origins).
 */
final class OpenAiProxyPropertiesAdapter {
    private OpenAiProxyPropertiesAdapter() {}

    /** A builder holding the properties; customizers may change it further. */
    static ProxyConfig.Builder toBuilder(OpenAiProxyProperties p) {
        return OpenAiProxySettings.bind(
                () -> OpenAiProxySettings.proxySettings(p).applyTo(ProxyConfig.builder()));
    }
}
