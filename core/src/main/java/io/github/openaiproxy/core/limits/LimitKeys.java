package io.github.openaiproxy.core.limits;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * How the shared stores name what they count: subjects are hashed (any string, however long or hostile, becomes
 * 64 hex digits, the same on every instance), counter names kept when plain and short, hashed otherwise.
 */
final class LimitKeys {
    /** The longest name kept as it is. */
    private static final int MAX_PLAIN = 100;

    private static final HexFormat HEX = HexFormat.of();

    private LimitKeys() {}

    /** The subject's SHA-256, in hex. */
    static String subject(String subject) {
        return sha256(subject);
    }

    /** The counter's name, or {@code #} and its hash when it is not plain ({@code #} is never in a plain name). */
    static String counter(String name) {
        return plain(name) ? name : "#" + sha256(name);
    }

    /** The lease id as stored: kept when plain, hashed otherwise; {@code -} for none. */
    static String lease(String leaseId) {
        if (leaseId == null) {
            return "-";
        }
        return plain(leaseId) ? leaseId : "#" + sha256(leaseId);
    }

    /**
     * The window, as a short string stored beside its counter: a counter whose window changed (a policy edited
     * from per minute to per hour) starts again rather than reading another window's amounts.
     */
    static String spec(Window window) {
        if (window instanceof Window.Rolling r) {
            return "r" + r.length().toMillis();
        }
        if (window instanceof Window.Calendar c) {
            return c.period() == Window.Period.DAY ? "d" : "m";
        }
        return "l";
    }

    /**
     * Whether {@code s} is 1 to 100 of {@code A-Z a-z 0-9 . _ -}: ASCII, and free of the separators and braces the
     * keys use. A loop rather than a pattern: a lease id is checked on every request.
     */
    static boolean plain(String s) {
        int n = s.length();
        if (n == 0 || n > MAX_PLAIN) {
            return false;
        }
        for (int i = 0; i < n; i++) {
            char c = s.charAt(i);
            boolean ok = (c >= 'a' && c <= 'z')
                    || (c >= 'A' && c <= 'Z')
                    || (c >= '0' && c <= '9')
                    || c == '.'
                    || c == '_'
                    || c == '-';
            if (!ok) {
                return false;
            }
        }
        return true;
    }

    private static String sha256(String s) {
        try {
            return HEX.formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing", e);
        }
    }
}
