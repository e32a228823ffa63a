package io.github.openaiproxy.core.internal;

/**
 * Model-name globs, as policies' {@code models} and upstreams' {@code models} write them: {@code *} stands for any
 * run of characters, everything else for itself.
 */
public final class Glob {
    private Glob() {}

    /** Whether {@code text} matches {@code pattern}, by backtracking over the last {@code *} only (linear). */
    public static boolean matches(String pattern, String text) {
        int p = 0;
        int t = 0;
        int star = -1;
        int resume = 0;
        while (t < text.length()) {
            char c = p < pattern.length() ? pattern.charAt(p) : 0;
            if (p < pattern.length() && c == '*') {
                star = p++;
                resume = t;
            } else if (p < pattern.length() && c == text.charAt(t)) {
                p++;
                t++;
            } else if (star >= 0) {
                p = star + 1;
                t = ++resume;
            } else {
                return false;
            }
        }
        while (p < pattern.length() && pattern.charAt(p) == '*') {
            p++;
        }
        return p == pattern.length();
    }
}
