package io.github.openaiproxy.core.upstream;

import io.github.openaiproxy.core.internal.Internal;
import java.net.http.HttpHeaders;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Optional;

/**
 * How long an upstream asks to be left alone: OpenAI's and Azure's {@code retry-after-ms} (milliseconds,
 * possibly fractional) first, then {@code Retry-After} (seconds or an HTTP date). Capped, so that a hostile or
 * broken upstream cannot park a key for days.
 */
@Internal
public final class RetryAfter {
    /** The longest wait honoured. */
    public static final Duration MAX = Duration.ofMinutes(10);

    private RetryAfter() {}

    /** The wait the headers ask for; empty when they ask none or nothing readable. */
    public static Optional<Duration> of(HttpHeaders headers) {
        Optional<String> ms = headers.firstValue("retry-after-ms");
        if (ms.isPresent()) {
            try {
                double v = Double.parseDouble(ms.get().strip());
                if (v >= 0 && !Double.isNaN(v)) {
                    return Optional.of(cap(Duration.ofNanos((long) Math.min(v * 1_000_000d, MAX.toNanos()))));
                }
            } catch (NumberFormatException e) {
                // fall through to Retry-After
            }
        }
        Optional<String> after = headers.firstValue("retry-after");
        if (after.isEmpty()) {
            return Optional.empty();
        }
        String v = after.get().strip();
        try {
            long seconds = Long.parseLong(v);
            return seconds < 0
                    ? Optional.empty()
                    : Optional.of(cap(Duration.ofSeconds(Math.min(seconds, MAX.toSeconds()))));
        } catch (NumberFormatException e) {
            if (!v.isEmpty() && v.chars().allMatch(c -> c >= '0' && c <= '9')) {
                return Optional.of(MAX); // seconds past a long: the longest rest, not the jittered backoff
            }
            try {
                Duration d = Duration.between(
                        ZonedDateTime.now(), ZonedDateTime.parse(v, DateTimeFormatter.RFC_1123_DATE_TIME));
                return Optional.of(cap(d.isNegative() ? Duration.ZERO : d));
            } catch (RuntimeException notADate) {
                return Optional.empty();
            }
        }
    }

    private static Duration cap(Duration d) {
        return d.compareTo(MAX) > 0 ? MAX : d;
    }
}
