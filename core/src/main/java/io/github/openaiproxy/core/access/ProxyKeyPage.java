package io.github.openaiproxy.core.access;

import java.util.List;
import java.util.regex.Pattern;

/**
 * One page of a {@link ProxyKeyStore}'s keys ({@link ProxyKeyStore#page(String, int)}), in the store's order of
 * ids.
 *
 * @param keys the keys of the page, at most the limit asked for
 * @param hasMore whether keys follow the last one of this page
 */
public record ProxyKeyPage(List<ProxyKey> keys, boolean hasMore) {
    /**
     * The shape of the ids a page may start after: every id the proxy makes ({@code key_...}, and
     * {@code config-<name>} for a declared key) has it, and a store may refuse another.
     */
    private static final Pattern ID = Pattern.compile("[A-Za-z0-9._-]{1,80}");

    public ProxyKeyPage {
        keys = List.copyOf(keys);
    }

    /**
     * The id to pass as {@code after} for the next page, or {@code null} when there is none (this page is the
     * last).
     */
    public String nextAfter() {
        return hasMore && !keys.isEmpty() ? keys.get(keys.size() - 1).id() : null;
    }

    /**
     * The first {@code limit} of {@code sorted}, the keys after some id in a store's order, with one more
     * telling whether keys follow: how a store that reads {@code limit + 1} keys answers a page.
     */
    public static ProxyKeyPage of(List<ProxyKey> sorted, int limit) {
        return sorted.size() > limit
                ? new ProxyKeyPage(sorted.subList(0, limit), true)
                : new ProxyKeyPage(sorted, false);
    }

    /** Whether {@code id} has the shape of an id a page may start after: 1-80 letters, digits, '.', '_' or '-'. */
    public static boolean isPageableId(String id) {
        return id != null && ID.matcher(id).matches();
    }

    /**
     * Checks the arguments of {@link ProxyKeyStore#page(String, int)}.
     *
     * @throws IllegalArgumentException when {@code after} is not {@code null} and not {@linkplain #isPageableId
     *     such an id}, or {@code limit} is below 1
     */
    public static void check(String after, int limit) {
        if (after != null && !isPageableId(after)) {
            throw new IllegalArgumentException("after must be a key id: 1-80 letters, digits, '.', '_' or '-'");
        }
        if (limit < 1) {
            throw new IllegalArgumentException("limit must be at least 1: " + limit);
        }
    }

    /** {@code limit + 1}, short of overflow: the keys a store reads to tell whether more follow. */
    public static int oneMore(int limit) {
        return limit == Integer.MAX_VALUE ? limit : limit + 1;
    }

    @Override
    public String toString() {
        return "ProxyKeyPage[" + keys.size() + " keys, hasMore=" + hasMore + "]";
    }
}
