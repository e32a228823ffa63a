package io.github.openaiproxy.core.keys;

import java.util.Optional;

/**
 * Where keys come from: the server's own key, and whether clients may send theirs in {@code x-openai-key}.
 *
 * @param serverKey the key the proxy adds to every upstream call, if configured
 * @param allowClientKey whether a non-empty {@code x-openai-key} request header is used instead of the
 *     server key; when {@code false} such a request is refused with 403
 */
public record KeyPolicy(Optional<ApiKey> serverKey, boolean allowClientKey) {
    /** The request header a client may carry its own key in. */
    public static final String CLIENT_KEY_HEADER = "x-openai-key";

    public KeyPolicy {
        serverKey = serverKey == null ? Optional.empty() : serverKey;
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
