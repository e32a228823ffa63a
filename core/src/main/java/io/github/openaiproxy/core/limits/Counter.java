package io.github.openaiproxy.core.limits;

import java.util.Objects;

/**
 * One limit of one subject: a name unique within the subject (for example {@code requests-per-minute}), the
 * most it may reach within its window, and the window.
 *
 * @param name the counter's name, a policy rule name; part of the store's key
 * @param limit the most the counter may reach in one window ({@code >= 0})
 * @param window how amounts expire
 */
public record Counter(String name, long limit, Window window) {
    public Counter {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(window, "window");
        if (limit < 0) {
            throw new IllegalArgumentException("limit must not be negative: " + limit);
        }
    }
}
