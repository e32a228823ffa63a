package io.github.openaiproxy.core.access;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.HexFormat;

/**
 * Proxy keys: {@value #PREFIX} followed by 256 random bits in base64url, so a key is recognisable at a glance
 * (and by secret scanners) and never mistaken for an OpenAI {@code sk-} key. Only the SHA-256 of a key is
 * stored: the key has enough entropy that a salt or slow hash adds nothing.
 */
public final class ProxyKeys {
    /** What every proxy key starts with. */
    public static final String PREFIX = "opk-";

    /**
     * What the admin tokens this project prints start with: never {@value #PREFIX}, so an admin token is not
     * taken for a proxy key (which would be refused as an unknown key on the routes that identify callers).
     */
    public static final String ADMIN_TOKEN_PREFIX = "opa-";

    private static final int RANDOM_BYTES = 32;
    private static final int ENCODED_LENGTH = PREFIX.length() + 43;
    private static final int DISPLAY_LENGTH = PREFIX.length() + 6;
    private static final SecureRandom RANDOM = new SecureRandom();

    private ProxyKeys() {}

    /** A new key: the key itself (to show once) with what is stored of it. */
    public record NewKey(String secret, String hash, String displayPrefix) {
        @Override
        public String toString() {
            return "NewKey[" + displayPrefix + "...]";
        }
    }

    /** Generates a new key. */
    public static NewKey generate() {
        return generate(PREFIX);
    }

    /** Generates a new admin token (for {@code admin.tokens}, which holds its {@link NewKey#hash()}). */
    public static NewKey generateAdminToken() {
        return generate(ADMIN_TOKEN_PREFIX);
    }

    private static NewKey generate(String prefix) {
        byte[] bytes = new byte[RANDOM_BYTES];
        RANDOM.nextBytes(bytes);
        String secret = prefix + Base64.getUrlEncoder().withoutPadding().encodeToString(bytes);
        return new NewKey(secret, hash(secret), displayPrefix(secret));
    }

    /** The SHA-256 of a key, lower-case hex: what is stored and looked up. */
    public static String hash(String secret) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(secret.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(digest);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform has SHA-256", e);
        }
    }

    /** The first characters of a key, shown in lists to recognise it. */
    public static String displayPrefix(String secret) {
        return secret.substring(0, Math.min(DISPLAY_LENGTH, secret.length()));
    }

    /**
     * Whether a bearer token is meant as a proxy key: it has the prefix. Such a token is then checked, and
     * refused when it is not a valid key, however malformed; it is never taken for another credential.
     */
    public static boolean isProxyKeyShaped(String token) {
        return token.startsWith(PREFIX);
    }

    /** Whether a token has exactly the form {@link #generate()} makes (checked before any lookup). */
    public static boolean isWellFormed(String token) {
        if (token.length() != ENCODED_LENGTH || !token.startsWith(PREFIX)) {
            return false;
        }
        for (int i = PREFIX.length(); i < token.length(); i++) {
            char c = token.charAt(i);
            boolean ok =
                    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
            if (!ok) {
                return false;
            }
        }
        return true;
    }
}
