package io.github.openaiproxy.core.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpHeaders;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** The key pool's choices on a clock the test moves, and the waits an upstream's headers ask for. */
class KeyPoolTest {
    private final AtomicLong now = new AtomicLong(-5_000_000_000L); // nanoTime may be negative

    private KeyPool pool(String... keys) {
        NamedUpstream u = new NamedUpstream(
                "pool",
                NamedUpstream.Kind.OPENAI,
                URI.create("http://127.0.0.1:1"),
                List.of(keys),
                List.of("gpt-*"),
                Map.of(),
                Optional.empty(),
                List.of());
        return new KeyPool(u, now::get);
    }

    private static String take(KeyPool pool) {
        KeyPool.Slot s = pool.take();
        return s == null ? null : s.key().reveal();
    }

    @Test
    void aRestingKeyComesBackWhenItsRestIsOverButAfterTheKeysNeverLimited() {
        KeyPool pool = pool("a", "b", "c");
        KeyPool.Slot a = pool.take();
        assertThat(a.key().reveal()).isEqualTo("a");
        assertThat(a.id()).isEqualTo("pool#1");
        pool.coolDown(a, Duration.ofMillis(200));

        assertThat(List.of(take(pool), take(pool), take(pool), take(pool))).containsExactly("b", "c", "b", "c");
        now.addAndGet(Duration.ofMillis(199).toNanos());
        assertThat(take(pool)).isNotEqualTo("a");

        now.addAndGet(Duration.ofMillis(2).toNanos());
        KeyPool.Slot c = pool.take(); // b was used last
        assertThat(c.key().reveal()).isEqualTo("c");
        pool.coolDown(c, Duration.ofSeconds(1));
        // a rests no longer but was limited; b never was, so b goes first every time.
        assertThat(List.of(take(pool), take(pool), take(pool))).containsExactly("b", "b", "b");
        KeyPool.Slot b = pool.take();
        pool.coolDown(b, Duration.ofSeconds(1));
        assertThat(take(pool)).isEqualTo("a");

        now.addAndGet(Duration.ofSeconds(2).toNanos());
        // All rested: the least recently limited (a, then c, then b) goes first.
        assertThat(take(pool)).isEqualTo("a");
        pool.coolDown(pool.take(), Duration.ofSeconds(1));
        assertThat(take(pool)).isEqualTo("c");
    }

    @Test
    void aRemovedKeyNeverComesBackAndAPoolWithNoUsableKeyGivesNone() {
        KeyPool pool = pool("a", "b");
        pool.remove(pool.take());
        assertThat(List.of(take(pool), take(pool))).containsExactly("b", "b");
        assertThat(pool.removedCount()).isEqualTo(1);
        pool.coolDown(pool.take(), Duration.ofSeconds(5));
        assertThat(pool.take()).isNull();
        assertThat(pool.toString()).doesNotContain("a").contains("2 keys");
    }

    @Test
    void theNextKeyIsDueWhenTheShortestRestEndsAndNeverWhenEveryKeyIsOut() {
        KeyPool pool = pool("a", "b", "c");
        assertThat(pool.nextKeyIn()).isEmpty();
        pool.coolDown(pool.take(), Duration.ofSeconds(5));
        pool.coolDown(pool.take(), Duration.ofSeconds(2));
        pool.remove(pool.take());
        assertThat(pool.nextKeyIn().map(Duration::toMillis)).contains(2000L);
        now.addAndGet(Duration.ofMillis(1500).toNanos());
        assertThat(pool.nextKeyIn().map(Duration::toMillis)).contains(500L);
        now.addAndGet(Duration.ofMillis(500).toNanos());
        assertThat(pool.nextKeyIn().map(Duration::toMillis))
                .as("b rests no more")
                .contains(3000L);

        KeyPool out = pool("a");
        out.remove(out.take());
        assertThat(out.nextKeyIn()).isEmpty();
    }

    @Test
    void retryAfterMsComesBeforeRetryAfterAndBothAreCapped() {
        assertThat(RetryAfter.of(headers(Map.of("retry-after-ms", "200", "retry-after", "7"))))
                .contains(Duration.ofMillis(200));
        assertThat(RetryAfter.of(headers(Map.of("retry-after-ms", "12.5")))).contains(Duration.ofNanos(12_500_000));
        assertThat(RetryAfter.of(headers(Map.of("retry-after", "7")))).contains(Duration.ofSeconds(7));
        assertThat(RetryAfter.of(headers(Map.of("retry-after", "999999999")))).contains(RetryAfter.MAX);
        // Seconds past a long are still a number of seconds (RFC 9110's 1*DIGIT): the longest rest, not none.
        assertThat(RetryAfter.of(headers(Map.of("retry-after", "99999999999999999999"))))
                .contains(RetryAfter.MAX);
        assertThat(RetryAfter.of(headers(Map.of("retry-after-ms", "1e300")))).contains(RetryAfter.MAX);
        // A leading + is read as Long.parseLong reads it, whatever the length; and seconds with a fraction (sent by
        // some servers, though RFC 9110 has whole ones) are that many seconds, not no header.
        assertThat(RetryAfter.of(headers(Map.of("retry-after", "+7")))).contains(Duration.ofSeconds(7));
        assertThat(RetryAfter.of(headers(Map.of("retry-after", "+99999999999999999999"))))
                .contains(RetryAfter.MAX);
        assertThat(RetryAfter.of(headers(Map.of("retry-after", " 1.5\t")))).contains(Duration.ofMillis(1500));
        assertThat(RetryAfter.of(headers(Map.of("retry-after", "99999999999999999999.5"))))
                .contains(RetryAfter.MAX);
        assertThat(RetryAfter.of(headers(Map.of("retry-after", "0.25" + "0".repeat(100_000)))))
                .contains(Duration.ofMillis(250));
        assertThat(RetryAfter.of(headers(Map.of("retry-after", "1.")))).isEmpty();
        assertThat(RetryAfter.of(headers(Map.of("retry-after", ".5")))).isEmpty();
        assertThat(RetryAfter.of(headers(Map.of("retry-after", "soon")))).isEmpty();
        assertThat(RetryAfter.of(headers(Map.of("retry-after", "-3")))).isEmpty();
        assertThat(RetryAfter.of(headers(Map.of()))).isEmpty();
    }

    private static HttpHeaders headers(Map<String, String> values) {
        Map<String, List<String>> m = new java.util.HashMap<>();
        values.forEach((k, v) -> m.put(k, List.of(v)));
        return HttpHeaders.of(m, (a, b) -> true);
    }
}
