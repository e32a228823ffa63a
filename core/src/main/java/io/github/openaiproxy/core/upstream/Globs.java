package io.github.openaiproxy.core.upstream;

/**
 * Model-name globs in upstream settings: {@code *} stands for any run of characters, everything else for itself.
 * {@link io.github.openaiproxy.core.internal.Glob} matches them.
 */
final class Globs {
    private Globs() {}

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
