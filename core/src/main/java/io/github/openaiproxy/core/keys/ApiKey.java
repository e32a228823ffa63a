package io.github.openaiproxy.core.keys;

import java.security.MessageDigest;
import java.util.Objects;
import java.util.Optional;

/**
 * An API key. Its {@link #toString()} never shows the secret, so a key that ends up in a log line or an
 * exception message leaks nothing.
 */
public final class ApiKey {
    private final String value;

    private ApiKey(String value) {
        this.value = value;
    }

    /** Wraps a key; blank or {@code null} text gives an empty optional. */
    public static Optional<ApiKey> of(String value) {
        if (value == null || value.isBlank()) {
            return Optional.empty();
        }
        return Optional.of(new ApiKey(value.strip()));
    }

    /** The secret, for the {@code Authorization} header only. */
    public String reveal() {
        return value;
    }

    /**
     * Whether the key can go in an HTTP header: printable ASCII only, as API keys are. Any other character
     * (a zero-width space pasted along with the key, say) makes an HTTP client fail with an exception that
     * quotes the header, key included; such a key is refused before it gets that far.
     */
    public boolean isHeaderSafe() {
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if (c < 0x20 || c > 0x7e) {
                return false;
            }
        }
        return true;
    }

    @Override
    public boolean equals(Object o) {
        // Constant-time comparison: keys are secrets.
        return o instanceof ApiKey k
                && MessageDigest.isEqual(
                        value.getBytes(java.nio.charset.StandardCharsets.UTF_8),
                        k.value.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    @Override
    public int hashCode() {
        return Objects.hash(value.length());
    }

    @Override
    public String toString() {
        return "ApiKey[****]";
    }
}
