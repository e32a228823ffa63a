package io.github.openaiproxy.spring.actuate;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.springframework.boot.actuate.endpoint.SanitizableData;
import org.springframework.boot.actuate.endpoint.SanitizingFunction;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.context.annotation.Bean;

/**
 * Masks the proxy's secrets in Actuator's {@code /actuator/env} and {@code /actuator/configprops}. Spring Boot 3 and
 * 4 show every value once {@code management.endpoint.*.show-values} is {@code always} or {@code when-authorized}
 * (the latter: to any authenticated user unless roles are set) and mask by name only through
 * {@link SanitizingFunction} beans; this one masks the server key ({@code openai.proxy.api-key} and the
 * {@code OPENAI_API_KEY} the documented placeholder reads), the named upstreams' {@code keys}, {@code limits.redis-url}
 * (which may carry a password), and the hashes in {@code admin.tokens} and {@code access.keys}, under any spelling
 * Spring's relaxed binding reads. Present whether or not the proxy is enabled; an application's bean named
 * {@value #BEAN_NAME} replaces it.
 */
@AutoConfiguration
@ConditionalOnClass(name = "org.springframework.boot.actuate.endpoint.SanitizingFunction")
public final class OpenAiProxySanitizingAutoConfiguration {
    /** The function's bean name. */
    public static final String BEAN_NAME = "openAiProxySanitizingFunction";

    @Bean(name = BEAN_NAME)
    @ConditionalOnMissingBean(name = BEAN_NAME)
    SanitizingFunction openAiProxySanitizingFunction() {
        return data -> isSecret(data.getKey()) ? data.withValue(SanitizableData.SANITIZED_VALUE) : data;
    }

    /**
     * Whether a property or environment variable name is one of the proxy's secrets. The name is compared by its
     * words, lower case and without list indexes, so {@code openai.proxy.api-key}, {@code openai.proxy.apiKey},
     * {@code OPENAI_PROXY_APIKEY} and {@code openai.proxy.upstreams.azure.keys[0]} are all recognised.
     */
    static boolean isSecret(String key) {
        if (key == null) {
            return false;
        }
        List<String> words = Arrays.stream(key.toLowerCase(Locale.ROOT).split("[^a-z0-9]+"))
                .filter(w -> !w.isEmpty() && !w.chars().allMatch(Character::isDigit))
                .toList();
        String name = String.join(".", words);
        if (name.equals("openai.api.key") || name.equals("openai.apikey")) {
            return true;
        }
        if (words.size() < 3 || !words.get(0).equals("openai") || !words.get(1).equals("proxy")) {
            return false;
        }
        String rest = name.substring("openai.proxy.".length());
        return switch (rest) {
            case "api.key", "apikey", "limits.redis.url", "limits.redisurl", "admin.tokens", "access.keys" -> true;
            default ->
                words.get(2).equals("upstreams")
                        && words.size() > 4
                        && words.get(words.size() - 1).equals("keys");
        };
    }
}
