package io.github.openaiproxy.core.internal;

/**
 * Text a database text column can hold: each NUL and each lone surrogate (half a pair, as a client may send in
 * JSON's {@code \ud800}) replaced by U+FFFD. PostgreSQL refuses a NUL in text, failing the whole statement (a
 * batch, other rows with it), and its driver writes a lone surrogate as {@code ?}.
 */
@Internal
public final class StorableText {
    private StorableText() {}

    /** {@code s} with its NULs and lone surrogates replaced; {@code s} itself when it has none (the common case). */
    public static String of(String s) {
        if (s == null) {
            return null;
        }
        int n = s.length();
        for (int i = 0; i < n; i++) {
            char c = s.charAt(i);
            if (c == 0 || Character.isSurrogate(c)) {
                return replaced(s, i); // rare: copied only then
            }
        }
        return s;
    }

    /**
     * An identifier every store keeps exactly: {@code id} itself, or when it holds a control character (NUL
     * among them) or a lone surrogate, {@code sha256:} and the SHA-256 of its UTF-16 code units, so that two
     * ids never become one (as "a" then a lone U+D800, and "a?", do in UTF-8).
     */
    public static String key(String id) {
        return isExact(id) ? id : sha256(id);
    }

    /** Whether every store keeps {@code s} as it is: no control character and no lone surrogate. */
    public static boolean isExact(String s) {
        int n = s.length();
        for (int i = 0; i < n; i++) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < n && Character.isLowSurrogate(s.charAt(i + 1))) {
                i++;
            } else if (Character.isISOControl(c) || Character.isSurrogate(c)) {
                return false;
            }
        }
        return true;
    }

    /** {@code sha256:} and the SHA-256 of {@code s}'s UTF-16 code units, hex: one for each string. */
    public static String sha256(String s) {
        try {
            java.security.MessageDigest sha = java.security.MessageDigest.getInstance("SHA-256");
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                sha.update((byte) (c >>> 8));
                sha.update((byte) c);
            }
            return "sha256:" + java.util.HexFormat.of().formatHex(sha.digest());
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform has SHA-256", e);
        }
    }

    private static String replaced(String s, int from) {
        int n = s.length();
        StringBuilder b = new StringBuilder(n).append(s, 0, from);
        for (int i = from; i < n; i++) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < n && Character.isLowSurrogate(s.charAt(i + 1))) {
                b.append(c).append(s.charAt(++i));
            } else {
                b.append(c == 0 || Character.isSurrogate(c) ? '\uFFFD' : c);
            }
        }
        return b.toString();
    }
}
