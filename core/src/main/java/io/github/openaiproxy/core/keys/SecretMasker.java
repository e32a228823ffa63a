package io.github.openaiproxy.core.keys;

import io.github.openaiproxy.core.internal.Internal;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Masks secrets in text that leaves the proxy: upstream error bodies and log lines.
 *
 * <p>Upstream errors echo client text (OpenAI's 404 quotes the requested model), so whatever is masked
 * must not depend on what the key contains: if it did, a client could put guesses into its request and
 * watch which ones come back masked, one request per character. Two things are masked, and nothing else:
 *
 * <ul>
 *   <li>key-shaped tokens ({@code sk-...}, {@code sk-proj-...}, {@code rk-...}, bearer tokens), by their
 *       shape alone, whatever key is configured;
 *   <li>the exact, whole key, when it is at least 16 characters long. A request whose
 *       text changes only when it contains the whole key tells the client nothing it did not know; a
 *       shorter key could be found by sending many candidates at once, so it is not searched for.
 * </ul>
 *
 * <p>Never pieces of the key: a piece that is masked is a piece that was guessed right. The errors that
 * echo the key itself (upstream 401 and 403) are not relayed at all but replaced by a fixed message.
 */
@Internal
public final class SecretMasker {
    /**
     * OpenAI-style keys (sk-, rk-, pk-, sess-, including sk-proj-...) and bearer tokens, also partly starred
     * echoes. A token never ends in a dot, so the period after an echoed key in a sentence stays.
     */
    private static final Pattern KEY_LIKE =
            Pattern.compile("(?i)\\b(?:sk|rk|pk|sess)-[A-Za-z0-9_\\-*.]{2,}[A-Za-z0-9_\\-*]"
                    + "|(?i)\\bbearer\\s+[A-Za-z0-9_\\-*.~+/=]{5,}[A-Za-z0-9_\\-*~+/=]");

    private static final String MASK = "[redacted]";

    /** Keys shorter than this are not searched for as a whole (see the class comment). */
    static final int MIN_WHOLE_KEY = 16;

    private SecretMasker() {}

    /**
     * Masks key-shaped tokens and every occurrence of the whole given key in {@code text}; the result
     * depends on the key only through whether the text contains all of it.
     *
     * @param key the key sent upstream, or {@code null}
     */
    public static String mask(String text, ApiKey key) {
        if (text == null || text.isEmpty()) {
            return text;
        }
        Matcher m = KEY_LIKE.matcher(text);
        String out = m.find() ? m.replaceAll(MASK) : text;
        if (key != null) {
            String secret = key.reveal();
            if (secret.length() >= MIN_WHOLE_KEY && out.contains(secret)) {
                out = out.replace(secret, MASK);
            }
        }
        return out;
    }

    /** Masks key-shaped tokens only. */
    public static String mask(String text) {
        return mask(text, null);
    }
}
