package io.github.openaiproxy.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.openaiproxy.core.access.AuditEntry;
import io.github.openaiproxy.core.access.AuditLog;
import io.github.openaiproxy.core.access.AuditPage;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * The {@link AuditLog} compatibility kit: every implementation runs this suite by extending it and saying how to
 * get the log under test (core's in-memory log, the JDBC log on H2 and PostgreSQL, and any log of another
 * project). The same log may serve every test of a class: each test writes entries of an actor of its own and
 * looks only at those, so entries of other tests in between are no matter.
 *
 * <pre>{@code
 * class MongoAuditLogTest extends AuditLogContract {
 *     private final AuditLog log = MongoAuditLog.create(database);
 *
 *     protected AuditLog log() {
 *         return log;
 *     }
 * }
 * }</pre>
 */
public abstract class AuditLogContract {
    /** The log under test. */
    protected abstract AuditLog log();

    /** An actor no other test writes as. */
    protected static String newActor() {
        return "token:" + UUID.randomUUID().toString().replace("-", "").substring(0, 8);
    }

    /** A time in whole millis, which every store keeps exactly. */
    protected static Instant now() {
        return Instant.now().truncatedTo(ChronoUnit.MILLIS);
    }

    /** Writes {@code count} entries of {@code actor}, each with a key id of its own; answers them oldest first. */
    protected List<AuditEntry> write(String actor, String tag, Instant at, int count) {
        List<AuditEntry> written = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            AuditEntry e = new AuditEntry(at, actor, "key.revoke", "key_" + tag + "_" + i, null);
            log().record(e);
            written.add(e);
        }
        return written;
    }

    /** Checks what every page promises: at most {@code limit}; full and with a next position when more follow. */
    protected static void checkPage(AuditPage page, int limit) {
        assertThat(page.entries().size()).isLessThanOrEqualTo(limit);
        if (page.hasMore()) {
            assertThat(page.entries()).as("a page with more after it is full").hasSize(limit);
            assertThat(page.nextBefore()).isNotNull().isPositive();
        } else {
            assertThat(page.nextBefore()).isNull();
        }
    }

    /** Every entry of the log, newest first, read a page of {@code limit} at a time; each page checked. */
    protected List<AuditEntry> allPages(int limit) {
        List<AuditEntry> all = new ArrayList<>();
        Long before = null;
        for (int pages = 0; ; pages++) {
            assertThat(pages).as("pages of %d entries", limit).isLessThan(100_000);
            AuditPage page = log().page(before, limit);
            checkPage(page, limit);
            all.addAll(page.entries());
            if (!page.hasMore()) {
                return all;
            }
            assertThat(before == null || page.nextBefore() < before)
                    .as("the next position goes back")
                    .isTrue();
            before = page.nextBefore();
        }
    }

    protected static List<AuditEntry> of(String actor, List<AuditEntry> entries) {
        return entries.stream().filter(e -> e.actor().equals(actor)).toList();
    }

    protected static List<AuditEntry> newestFirst(List<AuditEntry> oldestFirst) {
        List<AuditEntry> out = new ArrayList<>(oldestFirst);
        Collections.reverse(out);
        return out;
    }

    @Test
    protected void keepsEveryFieldOfAnEntry() {
        String actor = newActor();
        Instant t = now();
        AuditEntry full = new AuditEntry(t, actor, "key.policy", "key_f\u00e4lds", "batch \u4f60");
        AuditEntry bare = new AuditEntry(t.plusSeconds(1), actor, "policy.delete", null, null);
        log().record(full);
        log().record(bare);
        assertThat(of(actor, log().recent(2))).containsExactly(bare, full);
        assertThat(of(actor, log().page(null, 2).entries())).containsExactly(bare, full);
    }

    /** Paged with any limit, every entry is answered once, newest first, as {@link AuditLog#recent} answers. */
    @Test
    protected void pagesAnswerEveryEntryOnceNewestFirst() {
        String actor = newActor();
        List<AuditEntry> written = write(actor, "p", now(), 7);
        for (int limit : List.of(1, 2, 3, 7, 8, 1000)) {
            List<AuditEntry> all = allPages(limit);
            assertThat(of(actor, all)).as("limit %d", limit).containsExactlyElementsOf(newestFirst(written));
            assertThat(all).as("limit %d", limit).hasSizeGreaterThanOrEqualTo(7);
        }
        assertThat(log().page(null, 5).entries()).isEqualTo(log().recent(5));
        assertThat(log().page(null, 1).entries()).isEqualTo(log().recent(1));
    }

    /** Entries of one instant page exactly: the place is the entry's position, not its time. */
    @Test
    protected void entriesOfTheSameInstantPageExactly() {
        String actor = newActor();
        List<AuditEntry> written = write(actor, "same", now(), 10);
        for (int limit : List.of(1, 3, 4)) {
            assertThat(of(actor, allPages(limit)))
                    .as("limit %d", limit)
                    .containsExactlyElementsOf(newestFirst(written));
        }
    }

    /**
     * Entries written between pages are newer than the first page: they neither shift the older entries, so none
     * is skipped or answered twice, nor show up in the walk.
     */
    @Test
    protected void entriesWrittenBetweenPagesNeitherShiftNorRepeatOlderOnes() {
        String actor = newActor();
        List<AuditEntry> old = write(actor, "old", now(), 9);
        List<AuditEntry> seen = new ArrayList<>();
        AuditPage page = log().page(null, 2);
        checkPage(page, 2);
        seen.addAll(page.entries());
        int rounds = 0;
        for (; page.hasMore(); rounds++) {
            assertThat(rounds).isLessThan(100_000);
            write(actor, "new" + rounds, now(), 3); // at the head, between two pages
            page = log().page(page.nextBefore(), 2);
            checkPage(page, 2);
            seen.addAll(page.entries());
        }
        assertThat(of(actor, seen)).containsExactlyElementsOf(newestFirst(old));
        assertThat(of(actor, allPages(5))).as("and the new ones are kept").hasSize(9 + 3 * rounds);
        assertThat(rounds).as("9 entries of 2 a page, and others' before them").isGreaterThanOrEqualTo(4);
    }

    /** A writer appending all the time while the log is walked: the entries that were there are answered once. */
    @Test
    protected void aWalkWhileAnotherThreadWritesAnswersEveryOlderEntryOnce() throws Exception {
        String actor = newActor();
        List<AuditEntry> old = write(actor, "before", now(), 20);
        AtomicBoolean walking = new AtomicBoolean(true);
        AtomicInteger written = new AtomicInteger();
        CompletableFuture<Void> writer = CompletableFuture.runAsync(() -> {
            // Bounded, so that a log that keeps only its latest entries keeps these.
            while (walking.get() && written.get() < 500) {
                log().record(new AuditEntry(now(), actor, "key.create", "key_w_" + written.getAndIncrement(), null));
            }
        });
        try {
            while (written.get() < 5 && !writer.isDone()) {
                Thread.onSpinWait();
            }
            List<AuditEntry> seen = new ArrayList<>();
            Long before = null;
            AuditPage page;
            do {
                page = log().page(before, 3);
                checkPage(page, 3);
                seen.addAll(page.entries());
                before = page.nextBefore();
            } while (page.hasMore());
            List<AuditEntry> mine = of(actor, seen);
            assertThat(mine).doesNotHaveDuplicates();
            assertThat(mine.stream()
                            .filter(e -> e.action().equals("key.revoke"))
                            .toList())
                    .containsExactlyElementsOf(newestFirst(old));
        } finally {
            walking.set(false);
            writer.get(30, TimeUnit.SECONDS);
        }
    }

    /**
     * A page may start before any position of at least 1, kept or not: above the newest it starts at the newest;
     * at 1 there is nothing older; and a page's next position answers the same page whenever it is asked again.
     */
    @Test
    protected void aPageStartsBeforeAnyPositionEvenOneThatIsNotKept() {
        String actor = newActor();
        List<AuditEntry> written = write(actor, "any", now(), 6);
        assertThat(of(actor, log().page(Long.MAX_VALUE, 6).entries()))
                .as("before a position above the newest")
                .containsExactlyElementsOf(newestFirst(written));
        AuditPage nothing = log().page(1L, 10);
        assertThat(nothing.entries()).as("before the first position").isEmpty();
        assertThat(nothing.hasMore()).isFalse();

        AuditPage first = log().page(null, 2);
        AuditPage second = log().page(first.nextBefore(), 2);
        write(actor, "later", now(), 2);
        assertThat(log().page(first.nextBefore(), 2))
                .as("asked again after more were written")
                .isEqualTo(second);
    }

    @Test
    protected void aPositionBelowOneOrALimitBelowOneIsRefused() {
        for (long before : List.of(0L, -1L, Long.MIN_VALUE)) {
            assertThatThrownBy(() -> log().page(before, 10))
                    .as("before %d", before)
                    .isInstanceOf(IllegalArgumentException.class);
        }
        for (int limit : List.of(0, -1, Integer.MIN_VALUE)) {
            assertThatThrownBy(() -> log().page(null, limit))
                    .as("limit %d", limit)
                    .isInstanceOf(IllegalArgumentException.class);
        }
        assertThat(log().recent(0)).isEmpty();
    }
}
