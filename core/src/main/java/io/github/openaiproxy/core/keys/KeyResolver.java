package io.github.openaiproxy.core.keys;

import io.github.openaiproxy.core.error.ProxyError;
import io.github.openaiproxy.core.internal.Internal;
import java.net.http.HttpHeaders;
import java.util.Optional;

/** Decides which key an upstream call carries, or why there is none. */
@Internal
public final class KeyResolver {
    private final KeyPolicy policy;

    public KeyResolver(KeyPolicy policy) {
        this.policy = policy;
    }

    /** The outcome: a key, or the error to answer with. */
    public sealed interface Resolution {
        /** A key to use. */
        record Resolved(ApiKey key, boolean fromClient) implements Resolution {}

        /** No usable key; answer with this error. */
        record Refused(ProxyError error) implements Resolution {}
    }

    /**
     * Resolves the key for a request. An empty {@code x-openai-key} counts as absent. The client's
     * {@code Authorization} header is never used: SDKs always send one, with whatever placeholder key
     * their user configured.
     */
    public Resolution resolve(HttpHeaders requestHeaders) {
        Optional<ApiKey> clientKey = requestHeaders.allValues(KeyPolicy.CLIENT_KEY_HEADER).stream()
                .map(ApiKey::of)
                .flatMap(Optional::stream)
                .findFirst();
        if (clientKey.isPresent()) {
            if (!policy.allowClientKey()) {
                return new Resolution.Refused(ProxyError.clientKeyDisabled());
            }
            if (!clientKey.get().isHeaderSafe()) {
                return new Resolution.Refused(ProxyError.invalidClientKey());
            }
            return new Resolution.Resolved(clientKey.get(), true);
        }
        return policy.serverKey()
                .<Resolution>map(k -> new Resolution.Resolved(k, false))
                .orElseGet(() -> new Resolution.Refused(ProxyError.keyNotConfigured()));
    }

    public KeyPolicy policy() {
        return policy;
    }
}
