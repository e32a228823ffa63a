package io.github.openaiproxy.core.limits;

/**
 * The one place a {@link LimitStore} is made from {@link LimitsConfig#store()}: what the standalone server, the
 * servlet initializer and the Spring starter call when the host did not hand the engine a store of its own.
 */
public final class LimitStores {
    private LimitStores() {}

    /**
     * The store {@code limits.store} names.
     *
     * @param config the limits' configuration
     * @param dataSource the application's database for {@code jdbc} ({@code javax.sql.DataSource}), or
     *     {@code null} when there is none
     * @throws IllegalStateException when the store needs what is not there (a database, a Redis URL)
     */
    public static LimitStore create(LimitsConfig config, Object dataSource) {
        return switch (config.store()) {
            case MEMORY -> new MemoryLimitStore();
            case JDBC -> {
                if (dataSource == null) {
                    throw new IllegalStateException(
                            "limits.store=jdbc needs the application's database (a DataSource)");
                }
                // TODO(coordinator): the JDBC store of the stores branch, on dataSource.
                throw new IllegalStateException("limits.store=jdbc is not available in this build");
            }
            case REDIS -> {
                if (config.redisUrl() == null) {
                    throw new IllegalStateException("limits.store=redis needs limits.redis-url (redis://host:6379)");
                }
                // TODO(coordinator): the Redis store of the stores branch, on config.redisUrl().
                throw new IllegalStateException("limits.store=redis is not available in this build");
            }
        };
    }
}
