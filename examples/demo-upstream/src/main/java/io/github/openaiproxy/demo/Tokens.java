package io.github.openaiproxy.demo;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;

/** A rough stand-in for a tokenizer: enough for streaming pieces and plausible usage numbers. */
final class Tokens {
    /** The longest piece a word is cut into, in code points, so a long word still streams in steps. */
    static final int MAX_PIECE = 8;

    private Tokens() {}

    /**
     * Splits text into stream pieces: each is the whitespace before a word plus up to {@link #MAX_PIECE}
     * code points of it, like OpenAI's tokens that carry their leading space. Joined, they give the text back.
     */
    static List<String> split(String text) {
        List<String> pieces = new ArrayList<>();
        int i = 0;
        int n = text.length();
        while (i < n) {
            int start = i;
            while (i < n && Character.isWhitespace(text.codePointAt(i))) {
                i += Character.charCount(text.codePointAt(i));
            }
            int taken = 0;
            while (i < n && taken < MAX_PIECE && !Character.isWhitespace(text.codePointAt(i))) {
                i += Character.charCount(text.codePointAt(i));
                taken++;
            }
            pieces.add(text.substring(start, i));
        }
        return pieces;
    }

    /** About one token per four characters, as OpenAI's rule of thumb for English; at least 1. */
    static int estimate(String text) {
        int codePoints = text.codePointCount(0, text.length());
        return Math.max(1, (codePoints + 3) / 4);
    }

    /** Prompt tokens of a {@code messages} or {@code input} array: each item's text plus a small overhead. */
    static int estimateItems(JsonNode items) {
        if (items == null) {
            return 1;
        }
        if (items.isTextual()) {
            return estimate(items.textValue());
        }
        int total = 3;
        for (JsonNode item : items) {
            total += 4 + estimate(CannedText.contentText(item.get("content")));
        }
        return total;
    }
}
