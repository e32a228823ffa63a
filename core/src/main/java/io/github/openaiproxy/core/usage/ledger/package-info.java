/**
 * The usage ledger behind {@link io.github.openaiproxy.core.usage.UsageLedger}: a batching writer with a bounded
 * queue and one thread of its own ({@link io.github.openaiproxy.core.usage.ledger.BatchingUsageLedger}), its JDBC
 * store with daily rollups ({@link io.github.openaiproxy.core.usage.ledger.JdbcUsageStore}), an in-memory ledger,
 * and the queries that sum usage per key, user, model, policy or day
 * ({@link io.github.openaiproxy.core.usage.ledger.UsageQueries}).
 */
package io.github.openaiproxy.core.usage.ledger;
