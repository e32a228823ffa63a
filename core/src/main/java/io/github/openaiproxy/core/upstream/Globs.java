package io.github.openaiproxy.core.upstream;

/** Model-name globs: {@code *} stands for any run of characters, everything else for itself. */
final class Globs {
    private Globs() {}

    /** Whether {@code text} matches {@code pattern}, by backtracking over the last {@code *} only (linear). */
    static boolean matches(String pattern, String text) {
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

    /**
     * The characters a model name is made of: letters, digits and {@code . _ - : / @ +} ({@code gpt-4o},
     * {@code llama3:8b}, {@code meta-llama/Llama-3-8B}, {@code ft:gpt-4o:org:id}). A {@code models} entry with
     * anything else (a space, a quote, a {@code ?} or {@code [} taken for a wildcard) can match no model name.
     */
    private static final java.util.regex.Pattern ENTRY = java.util.regex.Pattern.compile("[A-Za-z0-9._\\-:/@+*]+");

    /** Whether a {@code models} entry can match some model name: not blank, and only model-name characters or {@code *}. */
    static boolean canMatch(String pattern) {
        return ENTRY.matcher(pattern).matches();
    }

    /** Whether {@code pattern} is only wildcards: it matches every model name. */
    static boolean isCatchAll(String pattern) {
        return !pattern.isEmpty() && pattern.chars().allMatch(c -> c == '*');
    }

    /** Whether {@code pattern} has a wildcard. */
    static boolean isGlob(String pattern) {
        return pattern.indexOf('*') >= 0;
    }
}
