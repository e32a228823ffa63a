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
