package io.github.openaiproxy.core.access;

import io.github.openaiproxy.testkit.AuditLogContract;
import java.util.ArrayList;
import java.util.List;

/**
 * A log of another project that implements only {@link AuditLog#record} and {@link AuditLog#recent}, and never
 * drops an entry, passes the kit with the SPI's default {@link AuditLog#page}.
 */
class DefaultPagingAuditLogTest extends AuditLogContract {
    private final AuditLog log = new AuditLog() {
        private final List<AuditEntry> entries = new ArrayList<>();

        @Override
        public synchronized void record(AuditEntry entry) {
            entries.add(entry);
        }

        @Override
        public synchronized List<AuditEntry> recent(int limit) {
            List<AuditEntry> out = new ArrayList<>();
            for (int i = entries.size() - 1; i >= 0 && out.size() < limit; i--) {
                out.add(entries.get(i));
            }
            return out;
        }
    };

    @Override
    protected AuditLog log() {
        return log;
    }
}
