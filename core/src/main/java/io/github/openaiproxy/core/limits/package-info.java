/**
 * SPI: where rate limits, concurrency leases and budgets are counted ({@link
 * io.github.openaiproxy.core.limits.LimitStore}), the counters it keeps, and core's in-memory store. A store
 * shared by several instances (JDBC, Redis) makes a limit exact across all of them.
 */
package io.github.openaiproxy.core.limits;
