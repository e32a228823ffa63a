package io.github.openaiproxy.core.access;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.testkit.AuditLogContract;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Core's in-memory audit log passes the kit, and keeps its latest {@value InMemoryAuditLog#CAPACITY} entries. */
class InMemoryAuditLogTest extends AuditLogContract {
    private final AuditLog log = AuditLog.inMemory();

    @Override
    protected AuditLog log() {
        return log;
    }

    /** Past its capacity the oldest entries are dropped; a walk still ends, at the oldest kept, never repeating. */
    @Test
    void pagesEndAtTheOldestEntryKept() {
        String actor = newActor();
        Instant t = now();
        List<AuditEntry> written = write(actor, "cap", t, InMemoryAuditLog.CAPACITY + 25);
        AuditPage first = log.page(null, 1000);
        List<AuditEntry> all = allPages(999);
        assertThat(all).hasSize(InMemoryAuditLog.CAPACITY);
        assertThat(all).containsExactlyElementsOf(newestFirst(written.subList(25, written.size())));
        assertThat(first.entries()).isEqualTo(all.subList(0, 1000));
        // A cursor of an entry since dropped: nothing older is kept.
        AuditPage dropped = log.page(10L, 5);
        assertThat(dropped.entries()).isEmpty();
        assertThat(dropped.hasMore()).isFalse();
    }
}
