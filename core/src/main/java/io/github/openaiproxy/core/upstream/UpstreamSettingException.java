package io.github.openaiproxy.core.upstream;

/**
 * A named upstream's configuration was refused; {@link #setting()} is the key that made it invalid (for
 * example {@code upstreams.azure.fallback}), so each vocabulary can name its own property.
 */
public final class UpstreamSettingException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    private final String setting;
    private final String reason;

    /** A refusal of {@code setting} for {@code reason} (never a key's value). */
    public UpstreamSettingException(String setting, String reason) {
        super(setting + ": " + reason);
        this.setting = setting;
        this.reason = reason;
    }

    /** The refused setting's key, {@code upstreams.<name>.<setting>}. */
    public String setting() {
        return setting;
    }

    /** Why it was refused. */
    public String reason() {
        return reason;
    }
}
