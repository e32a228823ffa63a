package io.github.openaiproxy.core.cors;

import java.util.Locale;
import java.util.regex.Pattern;

/**
 * An origin pattern: {@code *} matches within one host label or port; a trailing {@code :*} also matches
 * an origin without a port, so {@code http://localhost:*} matches {@code http://localhost} and
 * {@code http://localhost:5173}.
 */
final class OriginPattern {
    private final Pattern regex;

    private OriginPattern(Pattern regex) {
        this.regex = regex;
    }

    static OriginPattern compile(String pattern) {
        String p = pattern.toLowerCase(Locale.ROOT);
        if (p.equals("*")) {
            return new OriginPattern(Pattern.compile(".*"));
        }
        if (!p.matches("[a-z][a-z0-9+.-]*://.+")) {
            throw new IllegalArgumentException("cors origin pattern must look like scheme://host[:port]: " + pattern);
        }
        boolean anyPort = p.endsWith(":*");
        String body = anyPort ? p.substring(0, p.length() - 2) : p;
        String[] parts = body.split("\\*", -1);
        StringBuilder r = new StringBuilder(Pattern.quote(parts[0]));
        for (int i = 1; i < parts.length; i++) {
            // One host label (or port): no dot, so https://*.example.com does not match a.b.example.com; at most
            // 63 characters, as in DNS, so a matching origin echoed in a response head stays short.
            r.append("[^/:.]{1,63}").append(Pattern.quote(parts[i]));
        }
        if (anyPort) {
            r.append("(?::\\d{1,5})?");
        }
        return new OriginPattern(Pattern.compile(r.toString()));
    }

    boolean matches(String origin) {
        return regex.matcher(origin.toLowerCase(Locale.ROOT)).matches();
    }
}
