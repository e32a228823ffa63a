package io.github.openaiproxy.core.internal;

import java.util.regex.Pattern;

/**
 * The prefix the JDBC stores put before their table names: it is written into SQL, so it is checked once here,
 * the same way for every store (lower case letters, digits and {@code _}, a letter first, at most 31 characters).
 */
public final class TablePrefix {
    private static final Pattern VALID = Pattern.compile("[a-z][a-z0-9_]{0,30}");

    private TablePrefix() {}

    /**
     * {@code prefix}, when it is one.
     *
     * @throws IllegalArgumentException when it is null or not such a prefix
     */
    public static String check(String prefix) {
        if (prefix == null || !VALID.matcher(prefix).matches()) {
            throw new IllegalArgumentException("table prefix must match " + VALID.pattern() + ": " + prefix);
        }
        return prefix;
    }
}
