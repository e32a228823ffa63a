package io.github.openaiproxy.spring.actuate;

import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.config.Setting;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
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
 * {@link SanitizingFunction} beans; this one masks every setting core's table marks secret: the server key
 * ({@code openai.proxy.api-key} and the {@code OPENAI_API_KEY} the documented placeholder reads), the named upstreams'
 * {@code keys} and {@code headers}, {@code limits.redis-url} (which may carry a password), and the hashes in
 * {@code admin.tokens} and {@code access.keys}, under any spelling Spring's relaxed binding reads. It also masks
 * {@code SPRING_APPLICATION_JSON} when it mentions the proxy (its properties are shown one by one, masked where
 * secret), and the secrets' values in JVM options and command lines ({@code sun.java.command},
 * {@code JAVA_TOOL_OPTIONS}, ...). Present whether or not the proxy is enabled; an application's bean named
 * {@value #BEAN_NAME} replaces it.
 */
@AutoConfiguration
@ConditionalOnClass(name = "org.springframework.boot.actuate.endpoint.SanitizingFunction")
public final class OpenAiProxySanitizingAutoConfiguration {
    /** The function's bean name. */
    public static final String BEAN_NAME = "openAiProxySanitizingFunction";

    /**
     * The secret settings of core's table ({@link ProxySettings#CATALOG}), each as a pattern over a name squashed
     * to its lower-case letters and digits: {@code openai.proxy.api-key}, {@code openai.proxy.apiKey},
     * {@code OPENAI_PROXY_API_KEY} and {@code openai.proxy.upstreams.azure.keys[0]} all match. A named setting's
     * {@code <name>} may be digits only, so list indexes are not dropped but allowed at the end.
     */
    private static final List<Pattern> SECRETS = ProxySettings.CATALOG.settings().stream()
            .filter(Setting::secret)
            .flatMap(s -> Stream.of("openai.proxy." + s.key(), s.environmentName()))
            .map(OpenAiProxySanitizingAutoConfiguration::secretPattern)
            .distinct()
            .map(Pattern::compile)
            .toList();

    /** Values that carry other settings: JVM options and command lines, shown as one text. */
    private static final Set<String> COMMAND_LINES =
            Set.of("sunjavacommand", "javatooloptions", "jdkjavaoptions", "javaoptions", "javaopts");

    /** One {@code -Dkey=value} or {@code --key=value} of a command line. */
    private static final Pattern ARGUMENT = Pattern.compile("(^|\\s)(-D|--)?([^\\s=]+)=(\\S*)");

    @Bean(name = BEAN_NAME)
    @ConditionalOnMissingBean(name = BEAN_NAME)
    SanitizingFunction openAiProxySanitizingFunction() {
        return OpenAiProxySanitizingAutoConfiguration::sanitize;
    }

    static SanitizableData sanitize(SanitizableData data) {
        String key = data.getKey();
        if (isSecret(key)) {
            return data.withValue(SanitizableData.SANITIZED_VALUE);
        }
        String name = squash(key);
        if (name.equals("springapplicationjson")
                && data.getValue() instanceof String json
                && json.toLowerCase(Locale.ROOT).contains("openai")) {
            // The JSON's properties are shown one by one as well, masked where secret: nothing is lost.
            return data.withValue(SanitizableData.SANITIZED_VALUE);
        }
        if (COMMAND_LINES.contains(name) && data.getValue() instanceof String line) {
            String masked = ARGUMENT.matcher(line)
                    .replaceAll(m -> isSecret(m.group(3))
                            ? Matcher.quoteReplacement(m.group(1) + (m.group(2) == null ? "" : m.group(2)) + m.group(3)
                                    + "=" + SanitizableData.SANITIZED_VALUE)
                            : Matcher.quoteReplacement(m.group()));
            return masked.equals(line) ? data : data.withValue(masked);
        }
        return data;
    }

    /**
     * Whether a property or environment variable name is one of the proxy's secrets: a setting core's table
     * marks secret, under any spelling Spring's relaxed binding reads ({@code openai.proxy.api-key},
     * {@code openai.proxy.apiKey}, {@code OPENAI_PROXY_APIKEY}, {@code openai.proxy.upstreams.2.keys[0]},
     * {@code OPENAI_PROXY_UPSTREAMS_AZURE_HEADERS}), or {@code OPENAI_API_KEY}.
     */
    static boolean isSecret(String key) {
        if (key == null) {
            return false;
        }
        String name = squash(key);
        return name.startsWith("openai")
                && SECRETS.stream().anyMatch(p -> p.matcher(name).matches());
    }

    private static String squash(String key) {
        return key == null ? "" : key.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9]", "");
    }

    private static String secretPattern(String key) {
        String[] parts = key.toLowerCase(Locale.ROOT).split(Pattern.quote(Setting.NAME), -1);
        return Arrays.stream(parts).map(p -> Pattern.quote(squash(p))).collect(Collectors.joining("[a-z0-9]+"))
                + "[0-9]*";
    }
}
