package io.github.openaiproxy.core.limits;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.regex.Pattern;

/**
 * How the shared stores name what they count: subjects are hashed (any string, however long or hostile, becomes
 * 64 hex digits, the same on every instance), counter names kept when plain and short, hashed otherwise.
 */
final class LimitKeys {
    private static final Pattern PLAIN = Pattern.compile("[A-Za-z0-9._-]{1,100}");
    private static final HexFormat HEX = HexFormat.of();

    private LimitKeys() {}

    /** The subject's SHA-256, in hex. */
    static String subject(String subject) {
        return sha256(subject);
    }

    /** The counter's name, or {@code #} and its hash when it is not plain ({@code #} is never in a plain name). */
    static String counter(String name) {
        return PLAIN.matcher(name).matches() ? name : "#" + sha256(name);
    }

    /** The lease id as stored: kept when plain, hashed otherwise; {@code -} for none. */
    static String lease(String leaseId) {
        if (leaseId == null) {
            return "-";
        }
        return PLAIN.matcher(leaseId).matches() ? leaseId : "#" + sha256(leaseId);
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

    private static String sha256(String s) {
        try {
            return HEX.formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing", e);
        }
    }
}
