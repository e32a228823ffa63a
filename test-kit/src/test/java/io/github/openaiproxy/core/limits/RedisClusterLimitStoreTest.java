package io.github.openaiproxy.core.limits;

import io.github.openaiproxy.testkit.LimitStoreContract;
import io.github.openaiproxy.testkit.TestRedis;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/**
 * The Redis limit store on a real Redis Cluster (a node named by {@code OPENAI_PROXY_TEST_REDIS_CLUSTER_URL};
 * required in CI) passes the kit: the reservation script's keys share a slot. The second instance is reached
 * through the {@code redis-cluster://} form of the setting.
 */
class RedisClusterLimitStoreTest extends LimitStoreContract {
    static RedisLimitStore store;
    static RedisLimitStore other;

    @BeforeAll
    static void connect() {
        String url = TestRedis.clusterUrl();
        store = RedisLimitStore.cluster(List.of(url), Duration.ofSeconds(1));
        other = RedisLimitStore.connect(url.replaceFirst("^redis://", "redis-cluster://"));
    }

    @AfterAll
    static void close() {
        if (store != null) {
            store.close();
            other.close();
        }
    }

    @Override
    protected LimitStore store() {
        return store;
    }

    @Override
    protected LimitStore secondInstance() {
        return other;
    }
}
