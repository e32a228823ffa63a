package io.github.openaiproxy.core.limits;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.testkit.LimitStoreContract;
import io.github.openaiproxy.testkit.TestRedis;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

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

    /**
     * A subject's keys all carry its tag, so every key of one script call (the hash, a lease set, a settlement's and
     * a reservation's markers) is in one Cluster slot; and the tag is a hash, so subjects that differ only after a
     * brace or a newline (a hostile key id or JWT subject) spread over slots instead of pinning one.
     */
    @Test
    void everyKeyOfOneCallSharesTheSubjectsSlotAndHostileSubjectsSpread() {
        List<String> subjects = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            subjects.add("p|key:{same}" + i + "\n}{x:" + "y".repeat(i * 100));
        }
        long t = soon();
        Counter rpm = perMinute("requests", 100);
        Counter streams = leases("streams", 5, Duration.ofMinutes(1));
        RedisClient client = RedisClient.create(TestRedis.clusterUrl());
        // On an application's client, where a reservation is named in Redis too (the store's own client names none).
        io.lettuce.core.cluster.RedisClusterClient app =
                io.lettuce.core.cluster.RedisClusterClient.create(TestRedis.clusterUrl());
        try (StatefulRedisConnection<String, String> c = client.connect();
                RedisLimitStore store = RedisLimitStore.using(app)) {
            Set<Long> slots = new HashSet<>();
            for (String s : subjects) {
                Admission a = store.reserve(new Reservation(
                                s, List.of(new Charge(rpm, 1), new Charge(streams, 1)), "l-" + s.length(), t, "r-1"))
                        .join();
                store.settle(
                                s,
                                List.of(new Adjustment(rpm, a.states().get(0).windowStartMillis(), 1, "r-1")),
                                streams,
                                "not-held", // the lease stays: its set is one of the keys
                                t + 1)
                        .join();
                List<String> keys = c.sync().keys("openai-proxy:limits:{" + tagOf(s) + "}:*");
                assertThat(keys).hasSize(4); // w, l:streams, s:r-1, r:r-1
                Set<Long> own = new HashSet<>();
                for (String key : keys) {
                    own.add(c.sync().clusterKeyslot(key));
                }
                assertThat(own).hasSize(1);
                slots.addAll(own);
            }
            assertThat(slots).hasSizeGreaterThan(15);
        } finally {
            client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
            app.shutdown(Duration.ZERO, Duration.ofSeconds(2));
        }
    }

    @Override
    protected LimitStore store() {
        return store;
    }

    private static String tagOf(String subject) {
        return LimitKeys.subject(subject).substring(0, 32);
    }

    @Override
    protected LimitStore secondInstance() {
        return other;
    }

    @Override
    protected boolean remembersIds() {
        return true;
    }
}
