package io.github.openaiproxy.spring;

import io.github.openaiproxy.core.config.InvalidSettingException;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.config.Setting;
import io.github.openaiproxy.core.config.SettingsBinder;
import io.github.openaiproxy.core.config.SettingsCatalog;
import java.math.BigDecimal;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;
import org.springframework.beans.BeanWrapper;
import org.springframework.beans.PropertyAccessorFactory;
import org.springframework.boot.context.properties.source.InvalidConfigurationPropertyValueException;
import org.springframework.util.unit.DataSize;

/**
 * The bridge from {@link OpenAiProxyProperties} to the proxy's one settings binder: Spring binds the
 * properties (relaxed names, YAML lists, {@code DataSize}, {@code Duration}), this class flattens them back to
 * the catalog's keys and text, and core's {@link SettingsBinder} reads them as it reads init parameters and
 * environment variables. So there is one mapping from settings to configuration, in core. A value core
 * refuses fails start-up with an {@link InvalidConfigurationPropertyValueException} naming the property.
 * For the starter's auto-configurations.
 */
public final class OpenAiProxySettings {
    /** The property prefix. */
    public static final String PREFIX = "openai.proxy.";

    /**
     * The settings only the starter has: whether to mount the proxy at all, and its Micrometer and Actuator
     * integrations. With core's and the GraphQL module's catalogs, these are every {@code openai.proxy.*}
     * property.
     */
    public static final SettingsCatalog SPRING_ONLY = SettingsCatalog.of(
            Setting.of("enabled", Setting.Type.BOOLEAN, "true", "Whether to mount the proxy."),
            Setting.of("metrics.max-model-tags", Setting.Type.INT, "50", "Most distinct values of the model tag."),
            Setting.of(
                    "health.cache-time-to-live",
                    Setting.Type.DURATION,
                    "30s",
                    "How long an upstream (or stores') health check is reused."),
            Setting.of(
                    "health.timeout",
                    Setting.Type.DURATION,
                    "5s",
                    "Longest wait for the upstream health check, and for the stores'."));

    private OpenAiProxySettings() {}

    /** Core's settings from the bound properties. */
    public static ProxySettings proxySettings(OpenAiProxyProperties properties) {
        return ProxySettings.from(binder(properties, ProxySettings.CATALOG));
    }

    /**
     * A binder over {@code catalog} whose values are the bound properties, flattened to text. Unset
     * ({@code null}) properties are unset; blank ones are passed on (an empty list is an empty list).
     */
    public static SettingsBinder binder(OpenAiProxyProperties properties, SettingsCatalog catalog) {
        return binder(properties, "", catalog);
    }

    /**
     * A binder over {@code catalog} whose values are those of one group of the properties, such as
     * {@link OpenAiProxyProperties#getGraphql()} for the keys under {@code graphql.}.
     */
    public static SettingsBinder binder(Object group, String keyPrefix, SettingsCatalog catalog) {
        Map<String, String> flat = flatten(group, keyPrefix, catalog);
        // The keys too: templated settings (policies.<name>.<rule>) are found by them.
        return SettingsBinder.of(catalog, flat::get, flat::keySet);
    }

    /** The properties under the catalog's keys, as text in each setting's syntax. */
    static Map<String, String> flatten(Object group, String keyPrefix, SettingsCatalog catalog) {
        BeanWrapper bean = PropertyAccessorFactory.forBeanPropertyAccess(group);
        Map<String, String> flat = new HashMap<>();
        for (Setting s : catalog.settings()) {
            if (!s.key().startsWith(keyPrefix)) {
                throw new IllegalArgumentException(s.key() + " is not under " + keyPrefix);
            }
            if (s.isTemplate()) {
                flattenTemplate(bean, s, keyPrefix, flat);
                continue;
            }
            String text = text(bean.getPropertyValue(propertyPath(s.key().substring(keyPrefix.length()))));
            if (text != null) {
                flat.put(s.key(), text);
            }
        }
        return flat;
    }

    /**
     * The members of a templated setting: {@code policies.<name>.max-tokens} is the map property
     * {@code policies}, one entry per name, each entry's {@code maxTokens}.
     */
    private static void flattenTemplate(BeanWrapper bean, Setting s, String keyPrefix, Map<String, String> flat) {
        String relative = s.key().substring(keyPrefix.length());
        int at = relative.indexOf(Setting.NAME);
        String mapPath = propertyPath(relative.substring(0, at - 1));
        String rest = relative.substring(at + Setting.NAME.length());
        if (!(bean.getPropertyValue(mapPath) instanceof Map<?, ?> map)) {
            return;
        }
        for (Object name : map.keySet()) {
            String text = text(bean.getPropertyValue(mapPath + "[" + name + "]" + propertyPath(rest)));
            if (text != null) {
                flat.put(s.named(name.toString()).key(), text);
            }
        }
    }

    /**
     * Runs a binding step; a refused setting becomes Spring Boot's start-up failure naming the property (and
     * never a secret's value).
     */
    public static <T> T bind(Supplier<T> step) {
        try {
            return step.get();
        } catch (InvalidSettingException e) {
            throw new InvalidConfigurationPropertyValueException(PREFIX + e.key(), e.value(), e.reason());
        }
    }

    /** {@code cors.allowed-origins} is the bean path {@code cors.allowedOrigins}. */
    static String propertyPath(String key) {
        StringBuilder b = new StringBuilder(key.length());
        boolean upper = false;
        for (char c : key.toCharArray()) {
            if (c == '-') {
                upper = true;
            } else {
                b.append(upper ? Character.toUpperCase(c) : c);
                upper = false;
            }
        }
        return b.toString();
    }

    private static String text(Object value) {
        if (value == null) {
            return null;
        }
        if (value instanceof Duration d) {
            return d.toString(); // ISO-8601, exact
        }
        if (value instanceof DataSize d) {
            return Long.toString(d.toBytes());
        }
        if (value instanceof List<?> list) {
            return String.join(",", list.stream().map(String::valueOf).toList());
        }
        if (value instanceof Enum<?> e) {
            return e.name().toLowerCase(Locale.ROOT).replace('_', '-'); // X_FORWARDED_FOR: x-forwarded-for
        }
        if (value instanceof BigDecimal d) {
            return d.toPlainString();
        }
        return value.toString();
    }
}
