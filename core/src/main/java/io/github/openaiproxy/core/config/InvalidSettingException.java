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
        super(
                message(setting, origin, shown(setting, value), scrubbed(setting, value, reason)),
                // A URL's parser quotes it whole in its own message: that cause is not kept.
                setting.type() == Setting.Type.URL ? null : cause);
        this.key = setting.key();
        this.value = setting.secret() ? null : shown(setting, value);
        this.reason = scrubbed(setting, value, reason);
    }

    /**
     * The value as it may be shown: a URL without what it may carry a credential in (user info, the query), so a
     * refused {@code https://user:password@gateway/v1} is not printed at start-up.
     */
    private static String shown(Setting setting, String value) {
        if (value == null || setting.type() != Setting.Type.URL) {
            return value;
        }
        int end = value.length(); // the query or the fragment may hold a token: cut from the first of them
        for (char c : new char[] {'?', '#'}) {
            int at = value.indexOf(c);
            if (at >= 0 && at < end) {
                end = at;
            }
        }
        String v = value.substring(0, end);
        int at = v.lastIndexOf('@'); // user info ends at the last '@' (a password may hold '/' or '@')
        if (at >= 0) {
            int scheme = v.indexOf("://");
            int start = scheme >= 0 ? scheme + 3 : v.startsWith("//") ? 2 : Math.max(0, v.indexOf(':') + 1);
            v = v.substring(0, Math.min(start, at)) + "***@" + v.substring(at + 1);
        }
        return end < value.length() ? v + value.charAt(end) + "***" : v;
    }

    /** The reason with the value, as a parser may quote it, replaced by what may be shown of it. */
    private static String scrubbed(Setting setting, String value, String reason) {
        if (value == null || reason == null || setting.type() != Setting.Type.URL) {
            return reason;
        }
        String r = reason.replace(value, shown(setting, value));
        String stripped = value.strip();
        return stripped.equals(value) ? r : r.replace(stripped, shown(setting, stripped));
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

    /**
     * The refused value as given; {@code null} for a secret setting; a URL without its user info, query and fragment.
     */
    public String value() {
        return value;
    }

    /** Why it was refused. */
    public String reason() {
        return reason;
    }
}
