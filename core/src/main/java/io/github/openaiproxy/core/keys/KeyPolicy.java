package io.github.openaiproxy.core.keys;

import java.util.Optional;

/**
 * Where keys come from: the server's own key, and whether clients may send theirs in {@code x-openai-key}.
 *
 * @param serverKey the key the proxy adds to every upstream call, if configured; printable ASCII only
 *     ({@link IllegalArgumentException} otherwise)
 * @param allowClientKey whether a non-empty {@code x-openai-key} request header is used instead of the
 *     server key; when {@code false} such a request is refused with 403
 */
public record KeyPolicy(Optional<ApiKey> serverKey, boolean allowClientKey) {
    /** The request header a client may carry its own key in. */
    public static final String CLIENT_KEY_HEADER = "x-openai-key";

    public KeyPolicy {
        serverKey = serverKey == null ? Optional.empty() : serverKey;
        if (serverKey.isPresent() && !serverKey.get().isHeaderSafe()) {
            // Fail at start, without quoting the key: each call would fail anyway, with the key in the log.
            throw new IllegalArgumentException("The server API key contains characters that cannot be sent in an"
                    + " HTTP header (only printable ASCII is allowed); check it for pasted spaces or invisible"
                    + " characters");
        }
    }

    /** No server key, client keys disabled. */
    public static KeyPolicy none() {
        return new KeyPolicy(Optional.empty(), false);
    }

    @Override
    public String toString() {
        return "KeyPolicy[serverKey=" + (serverKey.isPresent() ? "configured" : "absent") + ", allowClientKey="
                + allowClientKey + "]";
    }
}
