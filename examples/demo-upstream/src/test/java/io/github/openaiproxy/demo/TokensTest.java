package io.github.openaiproxy.demo;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class TokensTest {

    @ParameterizedTest
    @ValueSource(
            strings = {
                "",
                "one",
                "  leading and trailing  ",
                "a\nb\tc",
                "supercalifragilistic word",
                "🙂🙂🙂🙂🙂🙂🙂🙂🙂 x"
            })
    void splitsIntoPiecesThatJoinBackToTheText(String text) {
        List<String> pieces = Tokens.split(text);

        assertThat(String.join("", pieces)).isEqualTo(text);
        for (String piece : pieces) {
            String word = piece.strip();
            assertThat(word.codePointCount(0, word.length())).isLessThanOrEqualTo(Tokens.MAX_PIECE);
            assertThat(Character.isLowSurrogate(piece.charAt(0)))
                    .as("no split pair")
                    .isFalse();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"Hello there", "[demo] This is"})
    void keepsTheSpaceBeforeAWordWithTheWord(String text) {
        assertThat(Tokens.split(text).get(1)).startsWith(" ");
    }
}
