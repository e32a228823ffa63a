/**
 * The JDBC stores of who may call: {@link io.github.openaiproxy.core.access.jdbc.JdbcProxyKeyStore},
 * {@link io.github.openaiproxy.core.access.jdbc.JdbcPolicyStore} and
 * {@link io.github.openaiproxy.core.access.jdbc.JdbcAuditLog}. Plain JDBC, tested on H2 and PostgreSQL; their
 * tables ({@code <prefix>proxy_keys}, {@code <prefix>policies}, {@code <prefix>audit_log}) are created or
 * migrated when a store is built, recorded in {@code <prefix>access_schema_version}.
 */
package io.github.openaiproxy.core.access.jdbc;
