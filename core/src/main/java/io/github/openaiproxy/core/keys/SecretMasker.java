package io.github.openaiproxy.core.keys;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Masks secrets in text that leaves the proxy: upstream error bodies (OpenAI's 401 echoes part of the key:
 * "Incorrect API key provided: sk-proj-****abcd") and log lines.
 */
public final class SecretMasker {
    /**
     * OpenAI-style keys (sk-, sk-proj-, rk-, ...) and bearer tokens, including partly starred echoes. A
     * token never ends in a dot, so the period after an echoed key in a sentence stays.
     */
    private static final Pattern KEY_LIKE =
            Pattern.compile("(?i)\\b(?:sk|rk|pk|sess)-[A-Za-z0-9_\\-*.]{2,}[A-Za-z0-9_\\-*]"
                    + "|(?i)\\bbearer\\s+[A-Za-z0-9_\\-*.~+/=]{5,}[A-Za-z0-9_\\-*~+/=]");

    private static final String MASK = "[redacted]";

    /** Stars and key characters right after a masked piece: the rest of the same echo. */
    private static final Pattern ECHO_TAIL = Pattern.compile(Pattern.quote(MASK) + "\\*+[A-Za-z0-9_\\-]*");

    private SecretMasker() {}

    /**
     * Masks key-like tokens and every occurrence of the given key (and of any 8+ character piece of it)
     * in {@code text}.
     */
    public static String mask(String text, ApiKey key) {
        if (text == null || text.isEmpty()) {
            return text;
        }
        // Key-like tokens first: masking a piece of the key first would cut the "sk-" off an echo such as
        // "sk-proj-abc****wxyz" and leave the rest of it unrecognised.
        Matcher m = KEY_LIKE.matcher(text);
        String out = m.find() ? m.replaceAll(MASK) : text;
        if (key != null) {
            out = maskKeyPieces(out, key.reveal());
        }
        return out;
    }

    /** Masks key-like tokens only. */
    public static String mask(String text) {
        return mask(text, null);
    }

    private static String maskKeyPieces(String text, String secret) {
        if (secret.length() < 8) {
            return secret.isEmpty() ? text : text.replace(secret, MASK);
        }
        String out = text.replace(secret, MASK);
        // Echoes such as "sk-proj-****abcd" show a prefix and the last characters: mask any 8-char window.
        int window = 8;
        for (int i = 0; i + window <= secret.length() && out.length() >= window; i++) {
            String piece = secret.substring(i, i + window);
            if (out.contains(piece)) {
                out = out.replace(piece, MASK);
            }
        }
        // OpenAI's 401 echoes "sk-serve****3456": masking "sk-serve" must not leave "****3456", the key's tail.
        Matcher tail = ECHO_TAIL.matcher(out);
        return tail.find() ? tail.replaceAll(Matcher.quoteReplacement(MASK)) : out;
    }
}
