package io.github.openaiproxy.core.upstream;

import io.github.openaiproxy.core.internal.Internal;
import java.math.BigDecimal;
import java.net.http.HttpHeaders;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * How long an upstream asks to be left alone: OpenAI's and Azure's {@code retry-after-ms} (milliseconds,
 * possibly fractional) first, then {@code Retry-After} (seconds or an HTTP date). Capped, so that a hostile or
 * broken upstream cannot park a key for days.
 */
@Internal
public final class RetryAfter {
    /** The longest wait honoured. */
    public static final Duration MAX = Duration.ofMinutes(10);

    /** Retry-After's seconds: digits, a leading + allowed, and a fraction after a point. */
    private static final Pattern SECONDS = Pattern.compile("\\+?[0-9]+(\\.[0-9]+)?");

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
        if (SECONDS.matcher(v).matches()) {
            // RFC 9110's 1*DIGIT, read as Long.parseLong reads it (a leading +), of any length: past the longest
            // wait is the longest wait, not an absent header. A fraction, which some servers send, is kept.
            int point = v.indexOf('.');
            String whole = point < 0 ? v : v.substring(0, point);
            if (whole.length() > 18) {
                return Optional.of(MAX);
            }
            // Nanoseconds are the finest a Duration holds: a longer fraction is not parsed.
            BigDecimal seconds = new BigDecimal(point < 0 ? v : v.substring(0, Math.min(v.length(), point + 10)));
            return Optional.of(
                    seconds.compareTo(BigDecimal.valueOf(MAX.toSeconds())) >= 0
                            ? MAX
                            : Duration.ofNanos(seconds.movePointRight(9).longValue()));
        }
        try {
            Duration d =
                    Duration.between(ZonedDateTime.now(), ZonedDateTime.parse(v, DateTimeFormatter.RFC_1123_DATE_TIME));
            return Optional.of(cap(d.isNegative() ? Duration.ZERO : d));
        } catch (RuntimeException notADate) {
            return Optional.empty();
        }
    }

    private static Duration cap(Duration d) {
        return d.compareTo(MAX) > 0 ? MAX : d;
    }
}
