package io.github.openaiproxy.core.internal;

import java.util.OptionalInt;

/**
 * The {@code limit} parameter of a listing (the admin API's keys, audit and usage, and the command line's
 * {@code usage}), read one way everywhere: absent or blank is the default, spaces around the number are ignored, and
 * anything but an integer from 1 to {@code max} is refused with {@link #refusal()}.
 *
 * @param defaultLimit the limit when none is given
 * @param max the largest limit a caller may ask for
 */
public record ListLimit(int defaultLimit, int max) {
    public ListLimit {
        if (max < 1 || defaultLimit < 1 || defaultLimit > max) {
            throw new IllegalArgumentException("a list limit's default must be from 1 to its max");
        }
    }

    /** The limit {@code given} asks for, the default when it is {@code null} or blank; empty when it is refused. */
    public OptionalInt parse(String given) {
        if (given == null || given.isBlank()) {
            return OptionalInt.of(defaultLimit);
        }
        int limit;
        try {
            limit = Integer.parseInt(given.strip());
        } catch (NumberFormatException e) {
            return OptionalInt.empty();
        }
        return limit < 1 || limit > max ? OptionalInt.empty() : OptionalInt.of(limit);
    }

    /** The message of a refused limit: the range, never the text given. */
    public String refusal() {
        return "limit must be an integer from 1 to " + max;
    }
}
