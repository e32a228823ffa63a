package io.github.openaiproxy.core.usage;

import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingRegistry;
import com.knuddels.jtokkit.api.EncodingType;
import com.knuddels.jtokkit.api.GptBytePairEncodingParams;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;
import java.util.function.ToIntFunction;
import java.util.regex.Pattern;

/**
 * Counts {@code o200k_base} tokens exactly as jtokkit does, without its regular expression: jtokkit splits a text
 * into pieces with {@code o200k_base}'s pattern (a {@link Pattern} over Unicode categories, about three quarters of
 * the time of a count), then encodes each piece by byte-pair merges. Here the pieces come from {@link #end}, which
 * follows the pattern's alternatives and backtracking by hand, and each piece is encoded by jtokkit with the same
 * ranks under a pattern that takes the piece whole ({@code (?s).+}): the same pieces and the same merges, so the
 * same count (checked against jtokkit on every kind of character in the tests). A piece that is a token of its own
 * (most words of up to eight ASCII characters with their space) is counted one without jtokkit: all in all, a count
 * in about a fifth of jtokkit's time.
 *
 * <p>The pattern, in order ({@code \s} is Unicode white space, as jtokkit compiles it with {@link
 * Pattern#UNICODE_CHARACTER_CLASS}):
 *
 * <pre>
 * [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?
 * |[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?
 * |\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * </pre>
 */
final class O200kPieces {
    /** jtokkit's ranks of {@code o200k_base}, as its own encoding loads them. */
    private static final String RANKS = "/com/knuddels/jtokkit/o200k_base.tiktoken";

    private static final String NAME = "o200k_base-pieces";
    /** Takes a piece whole: the pieces are already split. */
    private static final Pattern WHOLE = Pattern.compile("(?s).+");

    private static final int LETTERS = (1 << Character.UPPERCASE_LETTER)
            | (1 << Character.LOWERCASE_LETTER)
            | (1 << Character.TITLECASE_LETTER)
            | (1 << Character.MODIFIER_LETTER)
            | (1 << Character.OTHER_LETTER);
    private static final int MARKS = (1 << Character.NON_SPACING_MARK)
            | (1 << Character.ENCLOSING_MARK)
            | (1 << Character.COMBINING_SPACING_MARK);
    private static final int NUMBERS =
            (1 << Character.DECIMAL_DIGIT_NUMBER) | (1 << Character.LETTER_NUMBER) | (1 << Character.OTHER_NUMBER);
    /** {@code [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]}. */
    private static final int UPPER = (1 << Character.UPPERCASE_LETTER)
            | (1 << Character.TITLECASE_LETTER)
            | (1 << Character.MODIFIER_LETTER)
            | (1 << Character.OTHER_LETTER)
            | MARKS;
    /** {@code [\p{Ll}\p{Lm}\p{Lo}\p{M}]}. */
    private static final int LOWER = (1 << Character.LOWERCASE_LETTER)
            | (1 << Character.MODIFIER_LETTER)
            | (1 << Character.OTHER_LETTER)
            | MARKS;
    /** The categories of Unicode white space beyond {@code \t\n\u000B\f\r} and U+0085. */
    private static final int SPACE_TYPES =
            (1 << Character.SPACE_SEPARATOR) | (1 << Character.LINE_SEPARATOR) | (1 << Character.PARAGRAPH_SEPARATOR);

    private O200kPieces() {}

    /**
     * The counter of {@code o200k_base} tokens: by pieces, or jtokkit's own encoding when its ranks cannot be read
     * (a jtokkit that keeps them elsewhere).
     */
    static ToIntFunction<String> counter(EncodingRegistry registry) {
        Map<byte[], Integer> ranks = ranks();
        if (ranks == null) {
            return registry.getEncoding(EncodingType.O200K_BASE)::countTokensOrdinary;
        }
        ShortTokens singles = ShortTokens.of(ranks);
        EncodingRegistry own = Encodings.newLazyEncodingRegistry();
        own.registerGptBytePairEncoding(new GptBytePairEncodingParams(NAME, WHOLE, ranks, Map.of()));
        Encoding pieces = own.getEncoding(NAME).orElseThrow();
        return text -> count(pieces, singles, text);
    }

    private static int count(Encoding pieces, ShortTokens singles, String text) {
        int n = 0;
        int length = text.length();
        for (int i = 0; i < length; ) {
            int end = end(text, i);
            // A piece that is a token of its own is one (jtokkit looks it up whole before merging, too).
            n += singles.contains(text, i, end) ? 1 : pieces.countTokensOrdinary(text.substring(i, end));
            i = end;
        }
        return n;
    }

    /**
     * The tokens of at most {@value #MAX} ASCII characters (most words with their space), each packed into a long
     * (seven bits a character, the length above them) in an open-addressed table: about 100,000 tokens in 2 MB.
     */
    private static final class ShortTokens {
        static final int MAX = 8;
        private final long[] table;
        private final int mask;

        private ShortTokens(long[] table) {
            this.table = table;
            this.mask = table.length - 1;
        }

        static ShortTokens of(Map<byte[], Integer> ranks) {
            int size = 0;
            for (byte[] token : ranks.keySet()) {
                size += pack(token) != 0 ? 1 : 0;
            }
            ShortTokens set = new ShortTokens(new long[Integer.highestOneBit(Math.max(size, 1) * 2) * 2]);
            for (byte[] token : ranks.keySet()) {
                long key = pack(token);
                if (key != 0) {
                    set.add(key);
                }
            }
            return set;
        }

        private static long pack(byte[] token) {
            if (token.length == 0 || token.length > MAX) {
                return 0;
            }
            long key = (long) token.length << 56;
            for (int i = 0; i < token.length; i++) {
                if (token[i] < 0) {
                    return 0; // not ASCII
                }
                key |= (long) token[i] << (7 * i);
            }
            return key;
        }

        boolean contains(String s, int from, int to) {
            int length = to - from;
            if (length > MAX) {
                return false;
            }
            long key = (long) length << 56;
            for (int i = 0; i < length; i++) {
                char c = s.charAt(from + i);
                if (c >= 0x80) {
                    return false;
                }
                key |= (long) c << (7 * i);
            }
            for (int at = slot(key); ; at = (at + 1) & mask) {
                long k = table[at];
                if (k == key) {
                    return true;
                }
                if (k == 0) {
                    return false;
                }
            }
        }

        private void add(long key) {
            int at = slot(key);
            while (table[at] != 0 && table[at] != key) {
                at = (at + 1) & mask;
            }
            table[at] = key;
        }

        private int slot(long key) {
            return (int) ((key * 0x9E3779B97F4A7C15L) >>> 40) & mask;
        }
    }

    private static Map<byte[], Integer> ranks() {
        try (InputStream in = Encodings.class.getResourceAsStream(RANKS)) {
            if (in == null) {
                return null;
            }
            Map<byte[], Integer> ranks = new HashMap<>(400_000);
            BufferedReader lines = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
            Base64.Decoder base64 = Base64.getDecoder();
            for (String line; (line = lines.readLine()) != null; ) {
                int space = line.indexOf(' ');
                if (space > 0) {
                    ranks.put(base64.decode(line.substring(0, space)), Integer.parseInt(line.substring(space + 1)));
                }
            }
            return ranks.isEmpty() ? null : ranks;
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    // ---- the pattern, by hand ---------------------------------------------------------------------------

    /** Where the piece that starts at {@code i} ends: the pattern's first alternative that matches there. */
    static int end(String s, int i) {
        int e = letters(s, i, true);
        if (e > i) {
            return e;
        }
        e = letters(s, i, false);
        if (e > i) {
            return e;
        }
        int c = s.codePointAt(i);
        if (is(c, NUMBERS)) { // \p{N}{1,3}
            int j = i;
            for (int k = 0; k < 3 && j < s.length() && is(s.codePointAt(j), NUMBERS); k++) {
                j = next(s, j);
            }
            return j;
        }
        // ` ?[^\s\p{L}\p{N}]+[\r\n/]*`: with the space first, then without.
        for (int j = c == ' ' ? i + 1 : i; j >= i; j--) {
            int k = j;
            while (k < s.length() && other(s.codePointAt(k))) {
                k = next(s, k);
            }
            if (k > j) {
                while (k < s.length() && (s.charAt(k) == '\r' || s.charAt(k) == '\n' || s.charAt(k) == '/')) {
                    k++;
                }
                return k;
            }
        }
        int w = i;
        int lastBreak = -1;
        while (w < s.length() && space(s.codePointAt(w))) {
            if (s.charAt(w) == '\r' || s.charAt(w) == '\n') {
                lastBreak = w;
            }
            w = next(s, w);
        }
        if (lastBreak >= 0) {
            return lastBreak + 1; // \s*[\r\n]+: the white space up to its last line break
        }
        if (w == s.length()) {
            return w; // \s+(?!\S) at the end
        }
        int back = w - Character.charCount(s.codePointBefore(w));
        return back > i ? back : w; // \s+(?!\S): all but the last before a non-space; else \s+
    }

    /**
     * The first ({@code lowerLast}) or second alternative: an optional non-letter, non-number, then upper-case
     * like letters and lower-case like letters, then a contraction; {@code i} when it does not match.
     */
    private static int letters(String s, int i, boolean lowerLast) {
        int n = s.length();
        for (int start = prefix(s.codePointAt(i)) ? next(s, i) : i; start >= i; start = start > i ? i : i - 1) {
            int upper = start;
            while (upper < n && is(s.codePointAt(upper), UPPER)) {
                upper = next(s, upper);
            }
            if (lowerLast) {
                // [upper]*[lower]+: the longest run of upper whose next character is lower (backtracking).
                for (int q = upper; ; q -= Character.charCount(s.codePointBefore(q))) {
                    if (q < n && is(s.codePointAt(q), LOWER)) {
                        return contraction(s, lower(s, q));
                    }
                    if (q == start) {
                        break;
                    }
                }
            } else if (upper > start) {
                return contraction(s, lower(s, upper)); // [upper]+[lower]*
            }
        }
        return i;
    }

    private static int lower(String s, int i) {
        while (i < s.length() && is(s.codePointAt(i), LOWER)) {
            i = next(s, i);
        }
        return i;
    }

    /** {@code (?i:'s|'t|'re|'ve|'m|'ll|'d)?} after {@code e}. */
    private static int contraction(String s, int e) {
        int n = s.length();
        if (e + 1 >= n || s.charAt(e) != '\'') {
            return e;
        }
        int c1 = s.codePointAt(e + 1);
        int after1 = next(s, e + 1);
        if (same(c1, 's') || same(c1, 't') || same(c1, 'm') || same(c1, 'd')) {
            return after1;
        }
        if (after1 < n) {
            int c2 = s.codePointAt(after1);
            if ((same(c1, 'r') && same(c2, 'e'))
                    || (same(c1, 'v') && same(c2, 'e'))
                    || (same(c1, 'l') && same(c2, 'l'))) {
                return next(s, after1);
            }
        }
        return e;
    }

    /** Unicode case-insensitive equality, as the pattern's {@code (?i)} under Unicode classes compares. */
    private static boolean same(int c, char lower) {
        return Character.toLowerCase(Character.toUpperCase(c)) == lower;
    }

    private static int next(String s, int i) {
        return i + Character.charCount(s.codePointAt(i));
    }

    private static boolean is(int c, int types) {
        return ((types >> Character.getType(c)) & 1) != 0;
    }

    /** {@code [^\r\n\p{L}\p{N}]}. */
    private static boolean prefix(int c) {
        return c != '\r' && c != '\n' && !is(c, LETTERS | NUMBERS);
    }

    /** {@code [^\s\p{L}\p{N}]}. */
    private static boolean other(int c) {
        return !space(c) && !is(c, LETTERS | NUMBERS);
    }

    /** {@code \s} with Unicode classes: the White_Space property. */
    static boolean space(int c) {
        return (c >= 0x9 && c <= 0xd) || c == 0x85 || is(c, SPACE_TYPES);
    }
}
