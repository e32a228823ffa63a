package io.github.openaiproxy.spring;

import io.github.openaiproxy.core.ProxyConfig;

/**
 * Tunes the proxy's configuration in code, after the {@code openai.proxy.*} properties have been applied
 * and before it is built. Declare beans of this type; they run in {@link org.springframework.core.Ordered
 * order}. Not used when the application defines its own {@link ProxyConfig} bean.
 *
 * <pre>{@code
 * @Bean
 * ProxyConfigCustomizer keyFromVault(Vault vault) {
 *     return builder -> builder.apiKey(vault.secret("openai"));
 * }
 * }</pre>
 */
@FunctionalInterface
public interface ProxyConfigCustomizer {
    /** Changes the builder in place. */
    void customize(ProxyConfig.Builder builder);
}
