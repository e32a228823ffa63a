package io.github.openaiproxy.core.config;

/**
 * A setting's value was refused. The message names the key (and, when the value came from the environment,
 * its variable), the value (never for a {@link Setting#secret() secret} setting) and the reason, for example
 * {@code Invalid value 'x' for setting 'limits.max-concurrent-upstream-calls': not a whole number}.
 */
public final class InvalidSettingException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    private final String key;
    private final transient String value;
    private final String reason;

    InvalidSettingException(Setting setting, String origin, String value, String reason, Throwable cause) {
        super(message(setting, origin, value, reason), cause);
        this.key = setting.key();
        this.value = setting.secret() ? null : value;
        this.reason = reason;
    }

    private static String message(Setting setting, String origin, String value, String reason) {
        String shown = setting.secret() || value == null ? "" : " '" + value + "'";
        String from = origin == null ? "" : " (" + origin + ")";
        return "Invalid value" + shown + " for setting '" + setting.key() + "'" + from + ": " + reason;
    }

    /** The key of the refused setting. */
    public String key() {
        return key;
    }

    /** The refused value as given; {@code null} for a secret setting. */
    public String value() {
        return value;
    }

    /** Why it was refused. */
    public String reason() {
        return reason;
    }
}
