package io.github.openaiproxy.core.usage.ledger;

import io.github.openaiproxy.core.internal.ListLimit;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.time.temporal.ChronoUnit;
import java.util.Locale;
import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What to sum: the rows whose time is in {@code [since, until)}, grouped by {@code by}, optionally only those of
 * one key or one identity.
 *
 * @param since the first instant counted
 * @param until the first instant not counted; after {@code since}
 * @param by how rows are grouped
 * @param keyId only the rows of this key id; {@code null}: every row
 * @param identityKind with {@code identityId}, only the rows of this identity ({@code PROXY_KEY}, {@code USER},
 *     {@code TOKEN}, {@code ANONYMOUS}); {@code null}: every identity
 * @param identityId the identity's id, set exactly when {@code identityKind} is
 * @param limit the most rows answered, 1 to {@value #MAX_LIMIT}, or one more: see {@link #oneMore()}
 */
public record UsageQuery(
        Instant since, Instant until, By by, String keyId, String identityKind, String identityId, int limit) {
    /** The most rows one query answers. */
    public static final int MAX_LIMIT = 10_000;
    /** The rows answered unless a limit is asked for. */
    public static final int DEFAULT_LIMIT = 1000;
    /** The longest range a query may cover: ten years. */
    public static final Duration MAX_RANGE = Duration.ofDays(3660);

    private static final Pattern RELATIVE = Pattern.compile("(\\d{1,6})(m|h|d)");
    private static final int MAX_ID = 200;

    /** How rows are grouped. */
    public enum By {
        /** By the proxy key's id (rows of other identities have none). */
        KEY,
        /** By owner: the key's owner or the user. */
        USER,
        /** By model: the model that answered, else the one asked for. */
        MODEL,
        /** By policy. */
        POLICY,
        /** By day, UTC. */
        DAY;

        /** {@code key}, {@code user}, {@code model}, {@code policy} or {@code day}. */
        public static By parse(String name) {
            if (name != null) {
                for (By b : values()) {
                    if (b.name().equalsIgnoreCase(name.strip())) {
                        return b;
                    }
                }
            }
            throw new InvalidUsageQueryException("by", "by must be key, user, model, policy or day");
        }

        /** The name a query uses: {@code key}, ... */
        public String label() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    public UsageQuery {
        Objects.requireNonNull(since, "since");
        Objects.requireNonNull(until, "until");
        Objects.requireNonNull(by, "by");
        if (!until.isAfter(since)) {
            throw new InvalidUsageQueryException("until", "until must be after since");
        }
        if (Duration.between(since, until).compareTo(MAX_RANGE) > 0) {
            throw new InvalidUsageQueryException("since", "a query covers at most " + MAX_RANGE.toDays() + " days");
        }
        checkId("key", keyId);
        checkId("identity", identityId);
        if ((identityKind == null) != (identityId == null)) {
            throw new InvalidUsageQueryException("identity", "identity must be KIND:id");
        }
        if (limit < 1 || limit > MAX_LIMIT + 1) {
            throw limitRefused();
        }
    }

    /** The limit a caller may ask for: one more is for {@link #oneMore()}, not for a caller. */
    private static final ListLimit LIMIT = new ListLimit(DEFAULT_LIMIT, MAX_LIMIT);

    private static InvalidUsageQueryException limitRefused() {
        return new InvalidUsageQueryException("limit", LIMIT.refusal());
    }

    /**
     * This query asking for one row more than its limit: whether that row comes back tells whether the limit left
     * groups out. Allowed past {@value #MAX_LIMIT} (to {@code MAX_LIMIT + 1}) so that the largest limit can tell it too.
     */
    public UsageQuery oneMore() {
        return withLimit(limit + 1);
    }

    /** Every row of the range, grouped by {@code by}. */
    public static UsageQuery of(Instant since, Instant until, By by) {
        return new UsageQuery(since, until, by, null, null, null, DEFAULT_LIMIT);
    }

    /** Only the rows of this key id. */
    public UsageQuery withKeyId(String keyId) {
        return new UsageQuery(since, until, by, keyId, identityKind, identityId, limit);
    }

    /** Only the rows of this identity. */
    public UsageQuery withIdentity(String kind, String id) {
        return new UsageQuery(since, until, by, keyId, kind, id, limit);
    }

    public UsageQuery withLimit(int limit) {
        return new UsageQuery(since, until, by, keyId, identityKind, identityId, limit);
    }

    /**
     * A query from the text parameters of the admin API and the command line; a bad one fails with an
     * {@link InvalidUsageQueryException} naming the parameter.
     *
     * @param since how far back ({@code 7d}, {@code 24h}, {@code 30m}) or an ISO-8601 instant; required
     * @param until the end, in the same forms; {@code null}: now
     * @param by {@code key}, {@code user}, {@code model}, {@code policy} or {@code day}; {@code null}: {@code key}
     * @param key a key id, or {@code null}
     * @param identity {@code KIND:id} ({@code USER:alice}), or {@code null}
     * @param limit the most rows, or {@code null} for {@value #DEFAULT_LIMIT}
     * @param now the time relative values count back from
     */
    public static UsageQuery parse(
            String since, String until, String by, String key, String identity, String limit, Instant now) {
        if (since == null || since.isBlank()) {
            throw new InvalidUsageQueryException(
                    "since", "since is required, for example 7d, 24h or an ISO-8601 instant");
        }
        Instant from = instant("since", since, now);
        Instant to = until == null || until.isBlank() ? now : instant("until", until, now);
        if (!to.isAfter(from) && (until == null || until.isBlank())) {
            // The caller gave since only: the mistake is in since, not in an until it never wrote.
            throw new InvalidUsageQueryException("since", "since must be before until (now, when until is not given)");
        }
        By grouping = by == null || by.isBlank() ? By.KEY : By.parse(by);
        String kind = null;
        String id = null;
        if (identity != null && !identity.isEmpty()) {
            int colon = identity.indexOf(':');
            if (colon < 1 || colon == identity.length() - 1) {
                throw new InvalidUsageQueryException("identity", "identity must be KIND:id, for example USER:alice");
            }
            kind = identity.substring(0, colon).toUpperCase(Locale.ROOT);
            if (!kind.matches("PROXY_KEY|USER|TOKEN|ANONYMOUS")) {
                throw new InvalidUsageQueryException(
                        "identity", "identity's kind must be PROXY_KEY, USER, TOKEN or ANONYMOUS");
            }
            id = identity.substring(colon + 1);
        }
        int rows = LIMIT.parse(limit).orElseThrow(UsageQuery::limitRefused);
        return new UsageQuery(from, to, grouping, key == null || key.isEmpty() ? null : key, kind, id, rows);
    }

    private static Instant instant(String parameter, String text, Instant now) {
        String t = text.strip();
        Matcher m = RELATIVE.matcher(t.toLowerCase(Locale.ROOT));
        if (m.matches()) {
            long n = Long.parseLong(m.group(1));
            ChronoUnit unit = switch (m.group(2)) {
                case "m" -> ChronoUnit.MINUTES;
                case "h" -> ChronoUnit.HOURS;
                default -> ChronoUnit.DAYS;
            };
            Duration back = Duration.of(n, unit);
            if (back.compareTo(MAX_RANGE) > 0) {
                throw new InvalidUsageQueryException(
                        parameter, parameter + " reaches back at most " + MAX_RANGE.toDays() + " days");
            }
            return now.minus(back);
        }
        try {
            Instant i = Instant.parse(t);
            if (i.isBefore(now.minus(MAX_RANGE).minus(MAX_RANGE)) || i.isAfter(now.plus(MAX_RANGE))) {
                throw new InvalidUsageQueryException(parameter, parameter + " is too far from now");
            }
            return i;
        } catch (DateTimeParseException e) {
            throw new InvalidUsageQueryException(
                    parameter, parameter + " must be a duration back from now (7d, 24h, 30m) or an ISO-8601 instant");
        }
    }

    private static void checkId(String parameter, String id) {
        if (id != null && (id.isEmpty() || id.length() > MAX_ID || id.chars().anyMatch(Character::isISOControl))) {
            throw new InvalidUsageQueryException(
                    parameter, parameter + " must be 1-" + MAX_ID + " characters, none a control one");
        }
    }
}
