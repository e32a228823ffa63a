package io.github.openaiproxy.core.limits;

import io.github.openaiproxy.core.internal.ClassPath;

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
     * @param dataSource the application's database for {@code jdbc}, or
     *     {@code null} when there is none
     * @throws IllegalStateException when the store needs what is not there (a database, a Redis URL)
     */
    public static LimitStore create(LimitsConfig config, javax.sql.DataSource dataSource) {
        return switch (config.store()) {
            case MEMORY -> new MemoryLimitStore();
            case JDBC -> {
                if (dataSource == null) {
                    throw new IllegalStateException(
                            "limits.store=jdbc needs the application's database (a DataSource)");
                }
                yield JdbcLimitStore.builder(dataSource)
                        .timeout(config.storeTimeout())
                        .build();
            }
            case REDIS -> {
                if (config.redisUrl() == null) {
                    throw new IllegalStateException("limits.store=redis needs limits.redis-url (redis://host:6379)");
                }
                // Lettuce is optional for core: only the Redis store links against it.
                if (!ClassPath.has("io.lettuce.core.RedisClient")) {
                    throw new IllegalStateException("limits.store=redis needs the Redis client io.lettuce:lettuce-core"
                            + " on the class path (Spring Boot's spring-boot-starter-data-redis has it)");
                }
                yield RedisLimitStore.connect(config.redisUrl(), config.storeTimeout());
            }
        };
    }
}
