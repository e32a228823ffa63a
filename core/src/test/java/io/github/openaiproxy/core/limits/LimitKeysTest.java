package io.github.openaiproxy.core.limits;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.SplittableRandom;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class LimitKeysTest {
    /** What a plain name is, said as a pattern: the hand-written check must agree with it. */
    private static final Pattern PLAIN = Pattern.compile("[A-Za-z0-9._-]{1,100}");

    @Test
    void plainNamesAreKeptAndOthersHashed() {
        assertThat(LimitKeys.lease("lease-12.a_B")).isEqualTo("lease-12.a_B");
        assertThat(LimitKeys.counter("requests-per-minute")).isEqualTo("requests-per-minute");
        for (String hostile : new String[] {"", "a:b", "{tag}", "a b", "é", "x".repeat(101), "a\u0000", "a\nb", "-:"}) {
            assertThat(LimitKeys.plain(hostile)).as(hostile).isFalse();
            assertThat(LimitKeys.counter(hostile)).as(hostile).matches("#[0-9a-f]{64}");
        }
        assertThat(LimitKeys.plain("x".repeat(100))).isTrue();
        assertThat(LimitKeys.lease(null)).isEqualTo("-");
    }

    @Test
    void theCheckAgreesWithThePatternOnRandomStrings() {
        SplittableRandom random = new SplittableRandom(7);
        String alphabet = "azAZ09._-:{} #é\u0000\u007f\u00ffz/";
        for (int i = 0; i < 200_000; i++) {
            int length = random.nextInt(i % 50 == 0 ? 110 : 8);
            StringBuilder s = new StringBuilder(length);
            for (int j = 0; j < length; j++) {
                s.append(
                        random.nextInt(10) == 0
                                ? (char) random.nextInt(0x3000)
                                : alphabet.charAt(random.nextInt(alphabet.length())));
            }
            String candidate = s.toString();
            assertThat(LimitKeys.plain(candidate))
                    .as(candidate)
                    .isEqualTo(PLAIN.matcher(candidate).matches());
        }
    }
}
