package io.github.openaiproxy.core.usage;

import static org.assertj.core.api.Assertions.assertThat;

import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingType;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.ToIntFunction;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The hand-made split of {@code o200k_base} against the pattern itself, and its counts against jtokkit's. */
class O200kPiecesTest {
    /** {@code o200k_base}'s pattern, compiled as jtokkit compiles it (Unicode character classes). */
    private static final Pattern O200K_PATTERN = Pattern.compile(
            String.join(
                    "|",
                    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
                            + "(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
                    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*"
                            + "(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
                    "\\p{N}{1,3}",
                    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*",
                    "\\s*[\\r\\n]+",
                    "\\s+(?!\\S)",
                    "\\s+"),
            Pattern.UNICODE_CHARACTER_CLASS);

    private static final Encoding JTOKKIT = Encodings.newLazyEncodingRegistry().getEncoding(EncodingType.O200K_BASE);
    private static final ToIntFunction<String> PIECES = O200kPieces.counter(Encodings.newLazyEncodingRegistry());

    /**
     * Characters of every class the pattern tells apart: letters of each case (and ones that fold to {@code s} or
     * {@code k}), marks, numbers of each kind, white space of each kind, line breaks, apostrophes, slashes,
     * punctuation, symbols, controls, emoji, supplementary letters and unpaired surrogates.
     */
    private static final int[] ALPHABET = {
        'a', 'b', 'Z', 'Q', ' ', ' ', ' ', '\t', '\n', '\r', '\'', 's', 'S', 't', 'T', 'r', 'R', 'e', 'E', 'v', 'l',
        'L', 'm', 'M', 'd', 'D', '1', '2', '9', '/', '.', ',', '!', '?', '-', '_', '"', 0x17F, 0x212A, 0x130, 0x131,
        0x301, 0x300, 0x20DD, 0x903, 0x1C5, 0x2B0, 0x5D0, 0x4E2D, 0x3042, 0xA0, 0x2028, 0x2029, 0x3000, 0x85, 0x0B,
        0x0C, 0x1C, 0xB2, 0x2160, 0x660, 0x1F600, 0x1D400, 0x1D41A, 0x10400, 0x10428, 0xAA, 0xBA, 0x345, 0x3007, 0xE9,
        0xC9, 0x1E9E, 0xDF, 0x200B, 0xFEFF, 0x0, 0x7F, 0x1F1E6, 0xE000, 0x2019, 0x1680, 0x180E
    };

    private static String random(Random r, int maxLength) {
        StringBuilder b = new StringBuilder();
        int length = r.nextInt(maxLength + 1);
        for (int i = 0; i < length; i++) {
            int pick = r.nextInt(12);
            if (pick == 0) {
                b.appendCodePoint(r.nextInt(0x30000)); // anything, unpaired surrogates included
            } else if (pick == 1) {
                b.append((char) (0xD800 + r.nextInt(0x800))); // a surrogate on its own (or meeting another)
            } else {
                b.appendCodePoint(ALPHABET[r.nextInt(ALPHABET.length)]);
            }
        }
        return b.toString();
    }

    private static List<String> byPattern(String s) {
        List<String> pieces = new ArrayList<>();
        Matcher m = O200K_PATTERN.matcher(s);
        int last = 0;
        while (m.find()) {
            if (m.start() != last) {
                pieces.add("<skipped " + s.substring(last, m.start()) + ">");
            }
            pieces.add(m.group());
            last = m.end();
        }
        return pieces;
    }

    private static List<String> byHand(String s) {
        List<String> pieces = new ArrayList<>();
        for (int i = 0; i < s.length(); ) {
            int end = O200kPieces.end(s, i);
            pieces.add(s.substring(i, end));
            i = end;
        }
        return pieces;
    }

    @Test
    void thePiecesAreThePatternsOnRandomTextOfEveryCharacterClass() {
        Random r = new Random(12);
        for (int i = 0; i < 300_000; i++) {
            String s = random(r, 24);
            assertThat(byHand(s))
                    .as("pieces of %s", s.codePoints().boxed().toList())
                    .isEqualTo(byPattern(s));
        }
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "hello world",
                "We bonded four 10G ports to our storage server with LACP, but a single large file copy never goes"
                        + " above 10 Gbit/s. Is this expected? What should we change?",
                "I'm sure they'll say we've done it, HE'S SURE, she'd ... IT'LL and they're 'quoted'",
                "  leading and trailing   spaces   \n\n  \r\n\tindented\n",
                "def f(x):\n    return x ** 2  # square\n\n\nclass A:\n\tpass\r\n",
                "1234567890 3.14159 1e10 0x1F //path/to/file\n/usr/bin",
                "日本語のテキストと中文文本, 한국어 텍스트, Ελληνικά, русский текст, עברית, العربية",
                "emoji 😀👍🏽🇩🇪 and combining é ñ x̧ and ﬁ ligatures ǅ title case",
                "<|endoftext|> <|fim_prefix|> special tokens as text",
                "CamelCaseIdentifierWithHTTPServer and snake_case_name and SCREAMING_CASE",
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                "!!!???...---___===+++***&&&^^^%%%$$$###@@@",
                " a b c\u00a0d\u2003e\u3000f \u0085g\u2028h"
            })
    void theCountIsJtokkitsOnText(String text) {
        assertThat(PIECES.applyAsInt(text)).isEqualTo(JTOKKIT.countTokensOrdinary(text));
    }

    @Test
    void theCountIsJtokkitsOnRandomTextOfEveryCharacterClass() {
        Random r = new Random(7);
        for (int i = 0; i < 20_000; i++) {
            String s = random(r, 40);
            assertThat(PIECES.applyAsInt(s))
                    .as("count of %s", s.codePoints().boxed().toList())
                    .isEqualTo(JTOKKIT.countTokensOrdinary(s));
        }
    }

    /**
     * Real text in bulk: OpenAI's OpenAPI document (prose, YAML, JSON examples, code), the Chinese seed README and
     * this project's README and CHANGELOG, cut into 4 KB pieces so a difference names its place.
     */
    @Test
    void theCountIsJtokkitsOnTheRepositorysOwnTexts() throws java.io.IOException {
        java.nio.file.Path root = java.nio.file.Path.of("..");
        int pieces = 0;
        for (String file :
                List.of("spec/openai-openapi/openapi.yaml", "spec/seed/README.zh.md", "README.md", "CHANGELOG.md")) {
            String text = java.nio.file.Files.readString(root.resolve(file));
            for (int at = 0; at < text.length(); at += 4096) {
                String piece = text.substring(at, Math.min(text.length(), at + 4096));
                assertThat(PIECES.applyAsInt(piece))
                        .as("%s at %d", file, at)
                        .isEqualTo(JTOKKIT.countTokensOrdinary(piece));
                pieces++;
            }
        }
        assertThat(pieces).isGreaterThan(500);
    }

    @Test
    void emptyTextIsNoTokens() {
        assertThat(PIECES.applyAsInt("")).isZero();
    }
}
