package io.github.openaiproxy.core.access;

import java.util.List;

/**
 * SPI: where admin changes are written ({@link AuditEntry}): in memory, or an audit table
 * ({@link io.github.openaiproxy.core.access.jdbc.JdbcAuditLog}). Calls may block; the admin API makes them off
 * the request threads.
 */
public interface AuditLog {
    /** Writes one entry; a failure is an exception, and the admin call that made the change reports it. */
    void record(AuditEntry entry);

    /** The latest entries, newest first, at most {@code limit}. */
    List<AuditEntry> recent(int limit);

    /** A log kept in memory (the latest {@link InMemoryAuditLog#CAPACITY} entries). */
    static AuditLog inMemory() {
        return new InMemoryAuditLog();
    }
}
