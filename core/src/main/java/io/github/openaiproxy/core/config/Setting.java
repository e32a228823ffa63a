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
 *
 * <p>A key may be a template: one {@value #NAME} segment stands for a name the user chooses, as in
 * {@code policies.<name>.max-tokens}; such a setting documents a family of keys ({@code policies.free.max-tokens},
 * {@code policies.team-a.max-tokens}, ...), and {@link #named(String)} is one member of it. Names are lower-case
 * letters, digits and {@code -}, so that each has one environment variable
 * ({@code OPENAI_PROXY_POLICIES_TEAM_A_MAX_TOKENS}).
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
        /** A whole number that may exceed an {@code int}, such as a monthly token quota. */
        LONG,
        /** A decimal number. */
        DECIMAL,
        /** Bytes: {@code 10MB}, {@code 512KB}, {@code 10MiB} (binary units, as Spring's DataSize) or a plain number. */
        SIZE,
        /** {@code 30s}, {@code 500ms}, {@code 10m}, {@code 1h}, {@code 30d}, ISO-8601 or plain seconds. */
        DURATION,
        /** A comma-separated list. */
        LIST,
        /** A comma-separated list never repeated in messages or logs, such as entries that may hold a key. */
        SECRET_LIST,
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

    /** The segment of a templated key that stands for a chosen name. */
    public static final String NAME = "<name>";

    private static final java.util.regex.Pattern NAME_SYNTAX = java.util.regex.Pattern.compile("[a-z0-9][a-z0-9-]*");

    /** Whether this setting's key is a template with a {@value #NAME} segment. */
    public boolean isTemplate() {
        return key.contains(NAME);
    }

    /** The member of this templated setting for {@code name}, for example {@code policies.free.max-tokens}. */
    public Setting named(String name) {
        if (!isTemplate()) {
            throw new IllegalStateException(key + " is not a template");
        }
        return new Setting(key.replace(NAME, name), type, defaultValue, description, values);
    }

    /**
     * The name a concrete key gives this template's {@value #NAME} segment ({@code free} for
     * {@code policies.free.max-tokens}), whether or not it is a well-formed name; {@code null} when the key is
     * no member of this template. Not a template: always {@code null}.
     */
    public String nameIn(String concreteKey) {
        int at = key.indexOf(NAME);
        if (at < 0) {
            return null;
        }
        String prefix = key.substring(0, at);
        String suffix = key.substring(at + NAME.length());
        if (concreteKey.length() <= prefix.length() + suffix.length()
                || !concreteKey.startsWith(prefix)
                || !concreteKey.endsWith(suffix)) {
            return null;
        }
        String name = concreteKey.substring(prefix.length(), concreteKey.length() - suffix.length());
        return name.indexOf('.') >= 0 ? null : name;
    }

    /** Whether {@code name} may fill a template's {@value #NAME} segment: lower-case letters, digits and {@code -}. */
    public static boolean isValidName(String name) {
        return name != null && NAME_SYNTAX.matcher(name).matches();
    }

    /**
     * The key this templated setting has for an environment variable, or {@code null}: the variable's part
     * between the template's prefix and suffix is the name, lower-cased, with {@code _} read as {@code -}.
     */
    String keyForEnvironmentName(String variable) {
        String env = environmentName();
        int at = env.indexOf("<NAME>");
        if (at < 0) {
            return null;
        }
        String prefix = env.substring(0, at);
        String suffix = env.substring(at + "<NAME>".length());
        if (variable.length() <= prefix.length() + suffix.length()
                || !variable.startsWith(prefix)
                || !variable.endsWith(suffix)) {
            return null;
        }
        String name = variable.substring(prefix.length(), variable.length() - suffix.length());
        return key.replace(NAME, name.toLowerCase(Locale.ROOT).replace('_', '-'));
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
        return type == Type.SECRET || type == Type.SECRET_LIST;
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
