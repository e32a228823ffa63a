package io.github.openaiproxy.core.keys;

import io.github.openaiproxy.core.error.ProxyError;
import io.github.openaiproxy.core.internal.Internal;
import java.net.http.HttpHeaders;
import java.util.List;
import java.util.Optional;

/** Decides which key an upstream call carries, or why there is none. */
@Internal
public final class KeyResolver {
    private final KeyPolicy policy;
    /** The answer without a client key, the same for every request. */
    private final Resolution withoutClientKey;

    public KeyResolver(KeyPolicy policy) {
        this.policy = policy;
        this.withoutClientKey = policy.serverKey()
                .<Resolution>map(k -> new Resolution.Resolved(k, false))
                .orElseGet(() -> new Resolution.Refused(ProxyError.keyNotConfigured()));
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
        List<String> sent = requestHeaders.map().get(KeyPolicy.CLIENT_KEY_HEADER);
        Optional<ApiKey> clientKey = Optional.empty();
        if (sent != null) {
            for (int i = 0; i < sent.size() && clientKey.isEmpty(); i++) {
                clientKey = ApiKey.of(sent.get(i));
            }
        }
        if (clientKey.isPresent()) {
            if (!policy.allowClientKey()) {
                return new Resolution.Refused(ProxyError.clientKeyDisabled());
            }
            if (!clientKey.get().isHeaderSafe()) {
                return new Resolution.Refused(ProxyError.invalidClientKey());
            }
            return new Resolution.Resolved(clientKey.get(), true);
        }
        return withoutClientKey;
    }

    public KeyPolicy policy() {
        return policy;
    }
}
