package io.github.openaiproxy.core.admin;

import io.github.openaiproxy.core.access.ProxyKey;
import java.util.Objects;

/**
 * A key just created or rotated: what is stored, and the key itself, which is shown this once and never again.
 *
 * @param key the stored key (its hash, never the key)
 * @param secret the key to hand to its user
 */
public record CreatedKey(ProxyKey key, String secret) {
    public CreatedKey {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(secret, "secret");
    }

    @Override
    public String toString() {
        return "CreatedKey[" + key + "]";
    }
}
