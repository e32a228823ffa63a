package io.github.openaiproxy.core.limits;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.openaiproxy.testkit.LimitStoreContract;
import io.github.openaiproxy.testkit.TestRedis;
import io.lettuce.core.ClientOptions;
import io.lettuce.core.RedisClient;
import io.lettuce.core.TimeoutOptions;
import io.lettuce.core.api.StatefulRedisConnection;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The Redis limit store on a real standalone Redis server (named by {@code OPENAI_PROXY_TEST_REDIS_URL};
 * required in CI) passes the kit; a second store with a client of its own is the second instance.
 */
class RedisLimitStoreTest extends LimitStoreContract {
    static String url;
    static RedisLimitStore store;
    static RedisLimitStore other;

    @BeforeAll
    static void connect() {
        url = TestRedis.url();
        store = RedisLimitStore.connect(url);
        other = RedisLimitStore.connect(url);
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

    @Override
    protected boolean remembersIds() {
        return true;
    }

    /**
     * A subject's keys share one hash tag (one Cluster slot): one hash of its window counters and one sorted set per
     * lease counter, each expiring a minute after its window ends.
     */
    @Test
    void keysCarryTheSubjectsHashTagAndExpireAfterTheirWindow() {
        String name = "probe-" + UUID.randomUUID();
        String subject = "{hostile}:" + "x".repeat(5_000);
        long t = System.currentTimeMillis();
        reserve(
                store,
                subject,
                t,
                "lease",
                new Charge(perMinute(name, 5), 1),
                new Charge(leases(name, 5, Duration.ofSeconds(30)), 1));
        RedisClient client = RedisClient.create(url);
        try (StatefulRedisConnection<String, String> c = client.connect()) {
            List<String> leases = c.sync().keys("openai-proxy:limits:*:l:" + name);
            assertThat(leases).hasSize(1);
            String lease = leases.get(0);
            assertThat(lease).matches("openai-proxy:limits:\\{[0-9a-f]{32}\\}:l:" + name);
            String windows = lease.substring(0, 54) + ":w";
            // Two fields per window counter, named after the counter and its window: the amount used, the end.
            Map<String, String> fields = new java.util.TreeMap<>(c.sync().hgetall(windows));
            fields.keySet().removeIf(field -> !field.startsWith(name));
            assertThat(fields)
                    .containsExactlyInAnyOrderEntriesOf(
                            Map.of(name + ":r60000", "1", name + ":r60000:e", Long.toString(t + 60_000)));
            assertThat(c.sync().pttl(windows)).isBetween(110_000L, 120_000L);
            assertThat(c.sync().pttl(lease)).isBetween(80_000L, 90_000L);
        } finally {
            client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
        }
    }

    /**
     * The subject's hash lives as long as its longest window: a per-minute counter beginning again does not cut
     * short the day counter beside it.
     */
    @Test
    void theHashOfWindowsLivesAsLongAsItsLongestWindow() {
        String subject = newSubject();
        long t = System.currentTimeMillis();
        Counter minute = perMinute("rpm", 5);
        Counter day = rolling("rpd", 500, Duration.ofDays(1));
        reserve(store, subject, t, null, new Charge(minute, 1), new Charge(day, 1));
        reserve(store, subject, t + 61_000, null, new Charge(minute, 1));
        RedisClient client = RedisClient.create(url);
        try (StatefulRedisConnection<String, String> c = client.connect()) {
            List<String> keys = c.sync().keys("openai-proxy:limits:{" + tagOf(subject) + "}:w");
            assertThat(keys).hasSize(1);
            assertThat(c.sync().pttl(keys.get(0))).isGreaterThan(86_000_000L);
        } finally {
            client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
        }
        assertThat(reserve(store, subject, t + 62_000, null, new Charge(day, 0))
                        .states()
                        .get(0)
                        .used())
                .isEqualTo(1);
    }

    /**
     * A lease of a shorter hold (an instance configured with a shorter {@code limits.lease-timeout}, during a rolling
     * change) never cuts short the life of the set that holds a longer lease: the longer lease would be forgotten
     * while held, and concurrency over-admitted.
     */
    @Test
    void aShorterLeaseNeverCutsShortTheLifeOfALongerOneHeld() {
        String subject = newSubject();
        long t = System.currentTimeMillis();
        reserve(store, subject, t, "long", new Charge(leases("streams", 5, Duration.ofMinutes(10)), 1));
        reserve(other, subject, t, "short", new Charge(leases("streams", 5, Duration.ofSeconds(1)), 1));
        RedisClient client = RedisClient.create(url);
        try (StatefulRedisConnection<String, String> c = client.connect()) {
            String lease = "openai-proxy:limits:{" + tagOf(subject) + "}:l:streams";
            assertThat(c.sync().zcard(lease)).isEqualTo(2);
            assertThat(c.sync().pttl(lease)).isGreaterThan(600_000L);
        } finally {
            client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
        }
    }

    private static String tagOf(String subject) {
        return LimitKeys.subject(subject).substring(0, 32);
    }

    /** A server that lost its scripts (a restart, a failover, SCRIPT FLUSH) is sent the script again. */
    @Test
    void theScriptIsSentAgainWhenTheServerForgotIt() {
        String s = newSubject();
        long t = soon();
        Counter rpm = perMinute("requests", 2);
        assertThat(reserve(store, s, t, null, new Charge(rpm, 1)).admitted()).isTrue();
        RedisClient client = RedisClient.create(url);
        try (StatefulRedisConnection<String, String> c = client.connect()) {
            c.sync().scriptFlush();
        } finally {
            client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
        }
        assertThat(reserve(store, s, t + 1, null, new Charge(rpm, 1))
                        .states()
                        .get(0)
                        .used())
                .isEqualTo(2);
        assertThat(reserve(store, s, t + 1, null, new Charge(rpm, 1)).admitted())
                .isFalse();
    }

    /**
     * On an application's connection (which queues commands while it cannot send them) a settlement that timed out
     * is cancelled, so it cannot count once sent, even when the limit step's own deadline failed the caller's future
     * first: the caller keeps its adjustments for later, and a queued settlement sent as well would count twice.
     */
    @Test
    void aTimedOutSettlementIsNeverSentEvenWhenTheCallerStoppedWaitingFirst() {
        RedisClient client = RedisClient.create(url);
        try (StatefulRedisConnection<String, String> c = client.connect()) {
            RedisLimitStore onConnection = RedisLimitStore.using(c, Duration.ofMillis(200));
            String s = newSubject();
            long t = soon();
            Counter rpm = perMinute("requests", 50);
            Admission a = reserve(onConnection, s, t, null, new Charge(rpm, 1));
            long start = a.states().get(0).windowStartMillis();

            c.setAutoFlushCommands(false); // what it sends now waits, as while the connection is down
            CompletableFuture<Void> settled = onConnection.adjust(s, List.of(new Adjustment(rpm, start, 10)), t + 1);
            // The limit step times the same future with a deadline of its own, which may fire first.
            settled.completeExceptionally(new java.util.concurrent.TimeoutException());
            // A later command's timeout: by then the store's deadline for the settlement has passed too.
            CompletableFuture<Void> later = onConnection.adjust(s, List.of(new Adjustment(rpm, start, 1)), t + 1);
            assertThatThrownBy(() -> later.get(10, TimeUnit.SECONDS)).hasCauseInstanceOf(LimitStoreException.class);

            c.setAutoFlushCommands(true);
            c.flushCommands();
            assertThat(reserve(onConnection, s, t + 2, null, new Charge(rpm, 0))
                            .states()
                            .get(0)
                            .used())
                    .as("neither timed-out adjustment counted")
                    .isEqualTo(1);
        } finally {
            client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
        }
    }

    /**
     * A budget's settlement of a reservation made before Redis lost the subject's keys (a restart without
     * persistence, a {@code FLUSHALL}) is dropped, as a rolling window's is: the calendar window made again since has
     * the same end, but applying the earlier request's refund there would take it off what later requests used.
     */
    @Test
    void aBudgetsSettlementOfAReservationMadeBeforeTheKeysWereLostIsDropped() {
        String s = newSubject();
        long t = soon();
        Counter day = calendar("cost-day", 1_000_000, Window.Period.DAY);
        Admission before = reserve(store, s, t, null, new Charge(day, 5_000));
        RedisClient client = RedisClient.create(url);
        try (StatefulRedisConnection<String, String> c = client.connect()) {
            c.sync().del("openai-proxy:limits:{" + tagOf(s) + "}:w"); // what a restart without persistence does
        } finally {
            client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
        }
        Admission after = reserve(other, s, t + 1, null, new Charge(day, 5_000));
        assertThat(after.states().get(0).used()).isEqualTo(5_000);

        // The first request used 1,000 of its 5,000: its refund belongs to the window that was lost.
        other.adjust(
                        s,
                        List.of(new Adjustment(day, before.states().get(0).windowStartMillis(), -4_000, "req-1")),
                        t + 2)
                .join();
        store.adjust(s, List.of(new Adjustment(day, after.states().get(0).windowStartMillis(), -1_000, "req-2")), t + 3)
                .join();

        assertThat(used(s, day, t + 4)).isEqualTo(4_000);
    }

    /**
     * A named settlement sent again (its first answer lost after Redis applied it: the caller kept it for later)
     * counts once, counter by counter; another settlement counts; and the marker lives as long as the window.
     */
    @Test
    void aNamedSettlementSentAgainCountsOnce() {
        String s = newSubject();
        long t = soon();
        Counter rpm = perMinute("tokens", 1_000);
        Counter day = rolling("tokens-day", 10_000, Duration.ofDays(1));
        Admission a = reserve(store, s, t, null, new Charge(rpm, 100), new Charge(day, 100));
        long start = a.states().get(0).windowStartMillis();
        long dayStart = a.states().get(1).windowStartMillis();
        List<Adjustment> settlement =
                List.of(new Adjustment(rpm, start, -8, "req-1"), new Adjustment(day, dayStart, -8, "req-1"));

        store.settle(s, settlement, null, null, t + 1).join();
        other.settle(s, settlement, null, null, t + 2).join(); // the same settlement, from the backlog
        other.adjust(s, List.of(settlement.get(1)), t + 3).join(); // one adjustment of it, alone
        store.adjust(s, List.of(new Adjustment(rpm, start, -8, "req-2")), t + 4).join();

        Admission now = reserve(store, s, t + 5, null, new Charge(rpm, 0), new Charge(day, 0));
        assertThat(now.states().get(0).used()).isEqualTo(84);
        assertThat(now.states().get(1).used()).isEqualTo(92);
        RedisClient client = RedisClient.create(url);
        try (StatefulRedisConnection<String, String> c = client.connect()) {
            String marker = "openai-proxy:limits:{" + tagOf(s) + "}:s:req-1";
            assertThat(c.sync().get(marker).split("\0"))
                    .filteredOn(name -> !name.isEmpty())
                    .containsExactlyInAnyOrder("tokens:r60000", "tokens-day:r86400000");
            assertThat(c.sync().pttl(marker)).isBetween(600_000L, 660_000L);
            assertThat(c.sync().pttl("openai-proxy:limits:{" + tagOf(s) + "}:s:req-2"))
                    .isBetween(100_000L, 120_000L);
        } finally {
            client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
        }
    }

    /**
     * A charge counted later (the backlog of what was used while Redis did not answer) whose reply was lost after
     * Redis counted it fails, and the backlog sends it again: it counts once, and its marker lives ten minutes
     * whatever the window.
     */
    @Test
    void aChargeCountedLaterWhoseReplyWasLostCountsOnceWhenSentAgain() throws Exception {
        try (TestRedis.Link link = TestRedis.link(java.net.URI.create(url).getPort());
                RedisLimitStore viaLink = RedisLimitStore.connect(link.url())) {
            String s = newSubject();
            long t = soon();
            Counter rpm = perMinute("requests", 2);
            reserve(viaLink, s, t, null, new Charge(rpm, 0)); // the script is loaded

            link.dropNextReply();
            CompletableFuture<Void> lost = viaLink.count(s, new Charge(rpm, 3), "c-1", t + 1);
            assertThatThrownBy(() -> lost.get(10, TimeUnit.SECONDS)).hasCauseInstanceOf(LimitStoreException.class);
            Awaitility.await()
                    .atMost(Duration.ofSeconds(10))
                    .ignoreExceptions()
                    .until(() ->
                            viaLink.count(s, new Charge(rpm, 3), "c-1", t + 2).get(2, TimeUnit.SECONDS) == null);

            assertThat(used(s, rpm, t + 3)).isEqualTo(3);
            RedisClient client = RedisClient.create(url);
            try (StatefulRedisConnection<String, String> c = client.connect()) {
                assertThat(c.sync().pttl("openai-proxy:limits:{" + tagOf(s) + "}:c:c-1"))
                        .isBetween(600_000L, 660_000L);
            } finally {
                client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
            }
        }
    }

    /**
     * A named reservation sent again (an application's Lettuce client sends the commands in flight again once it has
     * reconnected) is made once: the copy is answered admitted with the counters as they are. A refused one leaves
     * nothing behind, and the marker of one made outlives the timeout by a minute.
     */
    @Test
    void aNamedReservationSentAgainIsMadeOnce() {
        RedisClient app = RedisClient.create(url);
        try (RedisLimitStore store = RedisLimitStore.using(app);
                RedisLimitStore other = RedisLimitStore.using(app)) {
            aNamedReservationSentAgainIsMadeOnce(store, other);
        } finally {
            app.shutdown(Duration.ZERO, Duration.ofSeconds(2));
        }
    }

    private void aNamedReservationSentAgainIsMadeOnce(LimitStore store, LimitStore other) {
        String s = newSubject();
        long t = soon();
        Counter rpm = perMinute("requests", 2);
        Counter streams = leases("streams", 5, Duration.ofMinutes(1));
        Reservation r = new Reservation(s, List.of(new Charge(rpm, 1), new Charge(streams, 1)), "l1", t, "req-1");
        assertThat(store.reserve(r).join().states().get(0).used()).isEqualTo(1);
        Admission copy = other.reserve(r).join();
        assertThat(copy.admitted()).isTrue();
        assertThat(copy.states().get(0).used()).isEqualTo(1);
        assertThat(copy.states().get(1).used()).isEqualTo(1);

        Reservation tooMuch = new Reservation(s, List.of(new Charge(rpm, 2)), null, t + 1, "req-2");
        assertThat(store.reserve(tooMuch).join().admitted()).isFalse();
        Reservation fits = new Reservation(s, List.of(new Charge(rpm, 1)), null, t + 2, "req-2");
        assertThat(store.reserve(fits).join().admitted())
                .as("a refused reservation was not remembered as made")
                .isTrue();
        assertThat(reserve(store, s, t + 3, null, new Charge(rpm, 0))
                        .states()
                        .get(0)
                        .used())
                .isEqualTo(2);
        RedisClient client = RedisClient.create(url);
        try (StatefulRedisConnection<String, String> c = client.connect()) {
            assertThat(c.sync().pttl("openai-proxy:limits:{" + tagOf(s) + "}:r:req-1"))
                    .isBetween(55_000L, 62_000L);
        } finally {
            client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
        }
    }

    /**
     * The store's own client fails a command when its connection breaks and never sends it again, so a reservation
     * there writes no marker: a key per request would cost Redis its time for nothing.
     */
    @Test
    void onItsOwnClientAReservationWritesNoMarker() {
        String s = newSubject();
        Reservation r = new Reservation(s, List.of(new Charge(perMinute("requests", 2), 1)), null, soon(), "req-1");
        assertThat(store.reserve(r).join().admitted()).isTrue();
        RedisClient client = RedisClient.create(url);
        try (StatefulRedisConnection<String, String> c = client.connect()) {
            assertThat(c.sync().exists("openai-proxy:limits:{" + tagOf(s) + "}:r:req-1"))
                    .isZero();
        } finally {
            client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
        }
    }

    /**
     * What the README tells operators about memory: under a policy that evicts (here {@code allkeys-lru}) a counter
     * is forgotten when Redis is full, and a limit passes more than it allows; under {@code noeviction} a full Redis
     * refuses the script, and the store fails (the when-down rules decide) instead of forgetting.
     */
    @Test
    void aFullRedisForgetsCountersUnderEvictionAndFailsUnderNoeviction() throws Exception {
        try (TestRedis.Server server = TestRedis.newServer().start();
                RedisLimitStore own = RedisLimitStore.connect(server.url())) {
            RedisClient client = RedisClient.create(server.url());
            try (StatefulRedisConnection<String, String> c = client.connect()) {
                String s = newSubject();
                long t = soon();
                Counter rpm = perMinute("requests", 1);
                assertThat(reserve(own, s, t, null, new Charge(rpm, 1)).admitted())
                        .isTrue();
                String memory = c.sync().info("memory");
                long used = Long.parseLong(memory.replaceAll("(?s).*\\bused_memory:(\\d+).*", "$1"));
                c.sync().configSet("maxmemory-policy", "allkeys-lru");
                // Redis's LRU clock counts whole seconds and evicts among a few sampled keys: a counter written in the
                // fillers' second was a random pick among them and survived now and then. Idle a second longer and
                // sampled among 64 keys a round, it is the first to go.
                c.sync().configSet("maxmemory-samples", "64");
                Thread.sleep(1100);
                c.sync().configSet("maxmemory", Long.toString(used + 512 * 1024));
                String filler = "x".repeat(10_000);
                for (int i = 0; i < 200; i++) {
                    c.sync().set("filler:" + i, filler);
                }
                assertThat(reserve(own, s, t + 1, null, new Charge(rpm, 1)).admitted())
                        .as("the counter was evicted: a second request of a limit of one passes")
                        .isTrue();

                c.sync().configSet("maxmemory-policy", "noeviction");
                c.sync().configSet("maxmemory", Long.toString(used / 2)); // over it already: full
                String fresh = newSubject(); // one that fits: a refusal writes nothing
                assertThatThrownBy(() -> own.reserve(new Reservation(fresh, List.of(new Charge(rpm, 1)), null, t + 2))
                                .get(5, TimeUnit.SECONDS))
                        .hasCauseInstanceOf(LimitStoreException.class)
                        .hasStackTraceContaining("OOM");
            } finally {
                client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
            }
        }
    }

    /**
     * A store that starts on a Redis that may evict keys ({@code allkeys-lru}, {@code volatile-lru}) warns, naming the
     * policy and README's section, on its own client and on an application's; under {@code noeviction} it says
     * nothing; a user without {@code CONFIG} (as managed services give) gets an info line, and the store works.
     */
    @Test
    void aServerThatMayEvictCountersIsWarnedAboutAtStart() throws Exception {
        try (TestRedis.Server server = TestRedis.newServer().start()) {
            RedisClient admin = RedisClient.create(server.url());
            java.util.logging.Logger logger = java.util.logging.Logger.getLogger(RedisLimitStore.class.getName());
            List<java.util.logging.LogRecord> logged = new java.util.concurrent.CopyOnWriteArrayList<>();
            java.util.logging.Handler handler = new java.util.logging.Handler() {
                @Override
                public void publish(java.util.logging.LogRecord r) {
                    logged.add(r);
                }

                @Override
                public void flush() {}

                @Override
                public void close() {}
            };
            logger.addHandler(handler);
            try (StatefulRedisConnection<String, String> c = admin.connect()) {
                String before = c.sync().configGet("maxmemory-policy").get("maxmemory-policy");
                try {
                    c.sync().configSet("maxmemory-policy", "allkeys-lru");
                    try (RedisLimitStore own = RedisLimitStore.connect(server.url())) {
                        assertThat(awaitLine(logged))
                                .isEqualTo(
                                        "WARNING: Redis limit store: the server's"
                                                + " maxmemory-policy is allkeys-lru, not noeviction: a full Redis evicts limit"
                                                + " counters and those limits start again from zero, passing more than they allow."
                                                + " Set maxmemory-policy noeviction (README, Where limits are counted, Redis's memory)");
                    }
                    logged.clear();
                    c.sync().configSet("maxmemory-policy", "volatile-lru");
                    RedisClient app = RedisClient.create(server.url());
                    try (RedisLimitStore onApp = RedisLimitStore.using(app)) {
                        assertThat(awaitLine(logged))
                                .startsWith("WARNING: ")
                                .contains("is volatile-lru, not noeviction");
                    } finally {
                        app.shutdown(Duration.ZERO, Duration.ofSeconds(2));
                    }

                    logged.clear();
                    c.sync().configSet("maxmemory-policy", "noeviction");
                    try (RedisLimitStore own = RedisLimitStore.connect(server.url())) {
                        // One connection answers in order: once a reservation is answered, so was the question.
                        reserve(own, newSubject(), soon(), null, new Charge(perMinute("requests", 1), 1));
                        assertThat(logged).isEmpty();
                    }

                    c.sync().configSet("maxmemory-policy", "allkeys-lru");
                    c.sync()
                            .dispatch(
                                    io.lettuce.core.protocol.CommandType.ACL,
                                    new io.lettuce.core.output.StatusOutput<>(io.lettuce.core.codec.StringCodec.UTF8),
                                    new io.lettuce.core.protocol.CommandArgs<>(io.lettuce.core.codec.StringCodec.UTF8)
                                            .add("SETUSER")
                                            .add("limits")
                                            .add("on")
                                            .add(">secret")
                                            .add("~*")
                                            .add("+@all")
                                            .add("-config"));
                    String managed = server.url().replace("redis://", "redis://limits:secret@");
                    try (RedisLimitStore own = RedisLimitStore.connect(managed)) {
                        assertThat(awaitLine(logged))
                                .startsWith("INFO: Redis limit store: could not read the server's maxmemory-policy (")
                                .contains("NOPERM")
                                .endsWith("limits need noeviction (README, Where limits are counted, Redis's memory)");
                        assertThat(reserve(own, newSubject(), soon(), null, new Charge(perMinute("requests", 1), 1))
                                        .admitted())
                                .isTrue();
                        assertThat(logged).hasSize(1);
                    }
                } finally {
                    c.sync().configSet("maxmemory-policy", before);
                }
            } finally {
                logger.removeHandler(handler);
                admin.shutdown(Duration.ZERO, Duration.ofSeconds(2));
            }
        }
    }

    /** The one line the store logged, as level and message, once it has. */
    private static String awaitLine(List<java.util.logging.LogRecord> logged) {
        Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> !logged.isEmpty());
        assertThat(logged).hasSize(1);
        java.util.logging.LogRecord r = logged.get(0);
        return r.getLevel() + ": " + new java.util.logging.SimpleFormatter().formatMessage(r);
    }

    /** On the application's client (Spring's), the store opens its own connection and leaves the client open. */
    @Test
    void onAnApplicationsClientTheClientStaysTheApplications() {
        RedisClient client = RedisClient.create(url);
        try {
            RedisLimitStore onClient = RedisLimitStore.using(client);
            String s = newSubject();
            long t = soon();
            Counter rpm = perMinute("requests", 1);
            assertThat(reserve(onClient, s, t, null, new Charge(rpm, 1)).admitted())
                    .isTrue();
            assertThat(reserve(store, s, t, null, new Charge(rpm, 1)).admitted())
                    .isFalse();
            onClient.close();
            try (StatefulRedisConnection<String, String> c = client.connect()) {
                assertThat(c.sync().ping()).isEqualTo("PONG");
            }
        } finally {
            client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
        }
    }

    /** A {@code redis-sentinel://} URI: the store asks the Sentinel for the master and counts there. */
    @Test
    void aSentinelUriReachesTheMasterTheSentinelNames() throws Exception {
        try (TestRedis.Server master = TestRedis.newServer().start();
                TestRedis.Server sentinel = TestRedis.newSentinel(master).start();
                RedisLimitStore viaSentinel =
                        RedisLimitStore.connect("redis-sentinel://127.0.0.1:" + sentinel.port() + "#mymaster");
                RedisLimitStore direct = RedisLimitStore.connect(master.url())) {
            String s = newSubject();
            long t = soon();
            Counter rpm = perMinute("requests", 1);
            assertThat(reserve(viaSentinel, s, t, null, new Charge(rpm, 1)).admitted())
                    .isTrue();
            assertThat(reserve(direct, s, t, null, new Charge(rpm, 1)).admitted())
                    .isFalse();
        }
    }

    @Test
    void aUriThatIsNoRedisUriIsRefused() {
        assertThatThrownBy(() -> RedisLimitStore.connect("http://127.0.0.1:1"))
                .isInstanceOf(IllegalArgumentException.class);
    }

    /**
     * A server that cannot be reached at start does not stop it, on the store's own client or an application's:
     * every call fails at once with a {@link LimitStoreException} (the requests get what the when-down settings say),
     * and once the server listens the store connects by itself, loads its script and counts.
     */
    @Test
    void anUnreachableServerAtStartIsConnectedToOnceItListens() throws Exception {
        try (TestRedis.Server server = TestRedis.newServer()) { // not started: nothing listens on its port yet
            RedisClient client = RedisClient.create(server.url());
            try (RedisLimitStore own = RedisLimitStore.connect(server.url(), Duration.ofSeconds(1));
                    RedisLimitStore onClient = RedisLimitStore.using(client, Duration.ofSeconds(1))) {
                String s = newSubject();
                Counter rpm = perMinute("requests", 1);
                for (RedisLimitStore store : List.of(own, onClient)) {
                    long asked = System.nanoTime();
                    assertThatThrownBy(() -> store.reserve(
                                            new Reservation(s, List.of(new Charge(rpm, 1)), null, soon()))
                                    .get(5, TimeUnit.SECONDS))
                            .hasCauseInstanceOf(LimitStoreException.class);
                    assertThat(Duration.ofNanos(System.nanoTime() - asked)).isLessThan(Duration.ofMillis(500));
                }

                server.start();

                for (RedisLimitStore store : List.of(own, onClient)) {
                    Awaitility.await()
                            .atMost(Duration.ofSeconds(30))
                            .pollInterval(Duration.ofMillis(100))
                            .ignoreExceptions()
                            .until(() -> store.reserve(
                                            new Reservation(newSubject(), List.of(new Charge(rpm, 1)), null, soon()))
                                    .get(5, TimeUnit.SECONDS)
                                    .admitted());
                }
                long t = soon();
                assertThat(reserve(own, s, t, null, new Charge(rpm, 1)).admitted())
                        .isTrue();
                assertThat(reserve(onClient, s, t, null, new Charge(rpm, 1)).admitted())
                        .as("both count in the same Redis")
                        .isFalse();
            } finally {
                client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
            }
        }
    }

    /**
     * Redis is killed in the middle of the test: reservations, settlements and releases fail promptly (within
     * the command timeout) with a {@link LimitStoreException}; when Redis is back, Lettuce reconnects and
     * counting goes on (from zero: the killed server kept nothing).
     */
    @Test
    void whenRedisGoesDownCallsFailPromptlyAndTheStoreRecoversWhenItIsBack() throws Exception {
        try (TestRedis.Server server = TestRedis.newServer().start();
                RedisLimitStore own = RedisLimitStore.connect(server.url(), Duration.ofSeconds(1))) {
            goesDownAndRecovers(server, own);
        }
    }

    /** The same on an application's client, whose options (queueing while disconnected) are not the store's. */
    @Test
    void whenRedisGoesDownCallsOnAnApplicationsClientFailWithinTheTimeoutToo() throws Exception {
        try (TestRedis.Server server = TestRedis.newServer().start()) {
            RedisClient client = RedisClient.create(server.url());
            try (RedisLimitStore onClient = RedisLimitStore.using(client, Duration.ofSeconds(1))) {
                goesDownAndRecovers(server, onClient);
            } finally {
                client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
            }
        }
    }

    /**
     * An application's client queues commands while it reconnects (Lettuce's default, and what Spring Data Redis
     * configures): the store hands it none while Redis is down. Each would wait out the store's timeout, and stay in
     * the client's buffer after it until Redis is back (about 1.6 KB a request: an outage of 300,000 requests held
     * 480 MB of heap). So calls fail at once, as on a client of the store's own, and counting resumes once Lettuce
     * has reconnected.
     */
    @Test
    void whileRedisIsDownCallsOnAnApplicationsClientFailAtOnceInsteadOfQueueing() throws Exception {
        try (TestRedis.Server server = TestRedis.newServer().start()) {
            RedisClient client = RedisClient.create(server.url());
            // Spring Data Redis's LettuceConnectionFactory's options: commands queue while disconnected.
            client.setOptions(ClientOptions.builder()
                    .timeoutOptions(TimeoutOptions.enabled())
                    .build());
            try (RedisLimitStore onClient = RedisLimitStore.using(client, Duration.ofSeconds(10))) {
                String s = newSubject();
                long t = soon();
                Counter rpm = perMinute("requests", 1000);
                assertThat(reserve(onClient, s, t, null, new Charge(rpm, 1)).admitted())
                        .isTrue();

                server.stop();
                Thread.sleep(500); // the client sees its connection closed
                long started = System.nanoTime();
                List<CompletableFuture<Admission>> calls = new java.util.ArrayList<>();
                for (int i = 0; i < 200; i++) {
                    calls.add(onClient.reserve(new Reservation(s, List.of(new Charge(rpm, 1)), null, t + 1)));
                }
                calls.add(onClient.settle(s, List.of(new Adjustment(rpm, t, -1)), null, null, t + 1)
                        .thenApply(ignored -> null));
                for (CompletableFuture<Admission> call : calls) {
                    assertThatThrownBy(() -> call.get(15, TimeUnit.SECONDS))
                            .hasCauseInstanceOf(LimitStoreException.class);
                }
                assertThat(Duration.ofNanos(System.nanoTime() - started))
                        .as("failed at once, not after the 10 s timeout")
                        .isLessThan(Duration.ofSeconds(2));

                server.start();
                Awaitility.await("the application's client reconnects")
                        .atMost(Duration.ofSeconds(30))
                        .pollInterval(Duration.ofMillis(200))
                        .ignoreExceptions()
                        .until(() -> reserve(onClient, s, t + 2, null, new Charge(rpm, 1))
                                .admitted());
            } finally {
                client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
            }
        }
    }

    private static void goesDownAndRecovers(TestRedis.Server server, RedisLimitStore store) throws Exception {
        String s = newSubject();
        long t = soon();
        Counter rpm = perMinute("requests", 5);
        Counter streams = leases("streams", 5, Duration.ofMinutes(1));
        assertThat(reserve(store, s, t, "l1", new Charge(rpm, 1), new Charge(streams, 1))
                        .admitted())
                .isTrue();

        server.stop();
        long started = System.nanoTime();
        CompletableFuture<Admission> refused =
                store.reserve(new Reservation(s, List.of(new Charge(rpm, 1)), null, t + 1));
        assertThatThrownBy(refused::join)
                .isInstanceOf(CompletionException.class)
                .hasCauseInstanceOf(LimitStoreException.class);
        assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofMillis(2_500));
        assertThatThrownBy(() -> store.adjust(s, List.of(new Adjustment(rpm, t, -1)), t + 1)
                        .get(3, TimeUnit.SECONDS))
                .hasCauseInstanceOf(LimitStoreException.class);
        assertThatThrownBy(() -> store.release(s, streams, "l1").get(3, TimeUnit.SECONDS))
                .hasCauseInstanceOf(LimitStoreException.class);

        server.start();
        Awaitility.await("the store reconnects")
                .atMost(Duration.ofSeconds(30))
                .pollInterval(Duration.ofMillis(200))
                .ignoreExceptions()
                .until(() -> reserve(store, s, t + 2, null, new Charge(rpm, 1)).admitted());
        assertThat(reserve(store, s, t + 3, null, new Charge(rpm, 4))
                        .states()
                        .get(0)
                        .used())
                .isEqualTo(5);
    }
}
