package io.github.openaiproxy.core.config;

import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * One setting of the proxy's single configuration vocabulary, described without any framework: its key (as
 * an init parameter, and under {@code openai.proxy.} as a Spring property), its type, its default written as
 * text in the setting's own syntax, and what it does. The environment variable is derived from the key by
 * {@link #environmentName(String)}. A {@link SettingsBinder} reads settings from any text source through
 * these descriptions; {@link SettingsCatalog} gathers the settings of one module.
 *
 * @param key the flat key, for example {@code cors.max-age}
 * @param type how a value is written and parsed
 * @param defaultValue the default in this setting's syntax ({@code 10MB}, {@code 30s}, {@code a, b}), or
 *     {@code null} when unset by default
 * @param description one line on what the setting does
 * @param values the accepted values of an {@link Type#ENUM} setting, lower case; empty otherwise
 */
public record Setting(String key, Type type, String defaultValue, String description, List<String> values) {
    /** How a setting's value is written. */
    public enum Type {
        /** Free text; core decides whether a blank value is acceptable. */
        STRING,
        /** Text never repeated in messages or logs, such as an API key. */
        SECRET,
        /** An absolute URL; blank means unset. */
        URL,
        /** {@code true/yes/on/1} or {@code false/no/off/0}. */
        BOOLEAN,
        /** A whole number. */
        INT,
        /** A decimal number. */
        DECIMAL,
        /** Bytes: {@code 10MB}, {@code 512KB}, {@code 10MiB} (binary units, as Spring's DataSize) or a plain number. */
        SIZE,
        /** {@code 30s}, {@code 500ms}, {@code 10m}, {@code 1h}, {@code 30d}, ISO-8601 or plain seconds. */
        DURATION,
        /** A comma-separated list. */
        LIST,
        /** One of {@link Setting#values()}, case-insensitive. */
        ENUM
    }

    public Setting {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(description, "description");
        values = List.copyOf(values);
        if (type == Type.ENUM && values.isEmpty()) {
            throw new IllegalArgumentException("enum setting " + key + " lists no values");
        }
    }

    /** A text setting. */
    public static Setting string(String key, String defaultValue, String description) {
        return new Setting(key, Type.STRING, defaultValue, description, List.of());
    }

    /** A setting of the given type. */
    public static Setting of(String key, Type type, String defaultValue, String description) {
        return new Setting(key, type, defaultValue, description, List.of());
    }

    /** A setting that takes one of {@code values}. */
    public static Setting oneOf(String key, String defaultValue, String description, String... values) {
        return new Setting(key, Type.ENUM, defaultValue, description, List.of(values));
    }

    /** Whether values of this setting must never appear in messages. */
    public boolean secret() {
        return type == Type.SECRET;
    }

    /** The environment variable that carries this setting. */
    public String environmentName() {
        return environmentName(key);
    }

    /**
     * The environment variable that carries a key: {@code OPENAI_API_KEY}, {@code OPENAI_BASE_URL},
     * {@code OPENAI_ORG_ID}, {@code OPENAI_PROJECT_ID} (the names the OpenAI SDKs read),
     * {@code OPENAI_PROXY_ALLOWED_ORIGINS} for {@code cors.allowed-origins}, and {@code OPENAI_PROXY_<KEY>}
     * (upper case, {@code .} and {@code -} become {@code _}) for every other key.
     */
    public static String environmentName(String key) {
        return switch (key) {
            case "api-key" -> "OPENAI_API_KEY";
            case "base-url" -> "OPENAI_BASE_URL";
            case "organization" -> "OPENAI_ORG_ID";
            case "project" -> "OPENAI_PROJECT_ID";
            case "cors.allowed-origins" -> "OPENAI_PROXY_ALLOWED_ORIGINS";
            default -> "OPENAI_PROXY_" + key.replace('.', '_').replace('-', '_').toUpperCase(Locale.ROOT);
        };
    }
}
