package io.github.openaiproxy.core.usage.ledger;

import io.github.openaiproxy.core.usage.UsageRecord;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** What every ledger store shares: the column widths, each row's group values, and the order of answers. */
final class LedgerRows {
    /** Widths of the text columns: longer values (a 10 KB model name) are cut, never refused. */
    static final int ID = 200;

    static final int SHORT = 64;
    static final int MODEL = 128;
    static final int ROUTE = 256;

    private LedgerRows() {}

    /**
     * {@code s} cut to {@code max} characters, each NUL and each lone surrogate (a pair the cut split included)
     * replaced by U+FFFD; {@code null} stays {@code null}. No PostgreSQL text can hold either (the driver writes a
     * lone surrogate as {@code ?}, so two names would become one daily row and the batch's upsert would fail): a
     * client's model name must not fail the batch its row is written in, other callers' rows with it.
     */
    static String clip(String s, int max) {
        if (s == null) {
            return null;
        }
        // Cut first: a pair the cut splits leaves a lone surrogate, replaced with the rest.
        return io.github.openaiproxy.core.internal.StorableText.of(s.length() <= max ? s : s.substring(0, max));
    }

    /** The model a row is counted under: the one that answered, else the one asked for. */
    static String model(UsageRecord r) {
        return clip(r.answeringModel() != null ? r.answeringModel() : r.requestedModel(), MODEL);
    }

    /** The UTC day of a row, {@code 2026-01-31}. */
    static String day(UsageRecord r) {
        return r.at().atOffset(ZoneOffset.UTC).toLocalDate().toString();
    }

    /**
     * The value a row is grouped under; {@code null} for none, and for an empty one (a client's {@code "model":""}):
     * the daily rows keep both as the empty text, so a group of none and an empty group could not be told apart.
     */
    static String group(UsageRecord r, UsageQuery.By by) {
        return noneIfEmpty(
                switch (by) {
                    case KEY -> clip(r.keyId(), SHORT);
                    case USER -> clip(r.owner(), ID);
                    case MODEL -> model(r);
                    case POLICY -> clip(r.policy(), SHORT);
                    case DAY -> day(r);
                });
    }

    /** {@code null} for {@code null} and for the empty text, else the value. */
    static String noneIfEmpty(String value) {
        return value == null || value.isEmpty() ? null : value;
    }

    /** Whether a row is one the query counts. */
    static boolean matches(UsageRecord r, UsageQuery q) {
        return !r.at().isBefore(q.since())
                && r.at().isBefore(q.until())
                && (q.keyId() == null || q.keyId().equals(clip(r.keyId(), SHORT)))
                && (q.identityKind() == null
                        || (q.identityKind().equals(r.identityKind())
                                && q.identityId().equals(clip(r.identityId(), ID))));
    }

    /** One row as a summary of itself. */
    static UsageSummary summary(UsageRecord r, String group) {
        Tally t = new Tally();
        t.add(r);
        return t.summary(group);
    }

    /**
     * Rows summed one by one, with nothing allocated per row: the one place that says which of a record's numbers
     * a summary adds up.
     */
    static final class Tally {
        private long requests;
        private long inputTokens;
        private long cachedInputTokens;
        private long outputTokens;
        private long reasoningTokens;
        private long images;
        private long costNanoUsd;
        private long estimated;

        void add(UsageRecord r) {
            requests++;
            inputTokens += r.usage().inputTokens();
            cachedInputTokens += r.usage().cachedInputTokens();
            outputTokens += r.usage().outputTokens();
            reasoningTokens += r.usage().reasoningTokens();
            images += r.usage().images();
            costNanoUsd += r.costNanoUsd();
            estimated += r.estimated() ? 1 : 0;
        }

        UsageSummary summary(String group) {
            return new UsageSummary(
                    group,
                    requests,
                    inputTokens,
                    cachedInputTokens,
                    outputTokens,
                    reasoningTokens,
                    images,
                    costNanoUsd,
                    estimated);
        }
    }

    /** Adds summaries of the same group together, in a map keyed by group ({@code null} is a group too). */
    static final class Sums {
        private final Map<String, UsageSummary> byGroup = new HashMap<>();
        private UsageSummary none;

        void add(UsageSummary s) {
            if (s.group() == null) {
                none = none == null ? s : none.plus(s);
            } else {
                byGroup.merge(s.group(), s, UsageSummary::plus);
            }
        }

        /** The sums in the query's order, at most its limit. */
        List<UsageSummary> answer(UsageQuery q) {
            List<UsageSummary> all = new ArrayList<>(byGroup.values());
            if (none != null) {
                all.add(none);
            }
            all.sort(order(q.by()));
            return all.size() > q.limit() ? List.copyOf(all.subList(0, q.limit())) : List.copyOf(all);
        }
    }

    /** Days ascending; otherwise cost, then tokens, then requests descending, then the group (none last). */
    static Comparator<UsageSummary> order(UsageQuery.By by) {
        Comparator<UsageSummary> byGroup =
                Comparator.comparing(UsageSummary::group, Comparator.nullsLast(Comparator.naturalOrder()));
        if (by == UsageQuery.By.DAY) {
            return byGroup;
        }
        return Comparator.comparingLong(UsageSummary::costNanoUsd)
                .thenComparingLong(UsageSummary::totalTokens)
                .thenComparingLong(UsageSummary::requests)
                .reversed()
                .thenComparing(byGroup);
    }
}
