package io.github.openaiproxy.integration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.limits.Adjustment;
import io.github.openaiproxy.core.limits.Admission;
import io.github.openaiproxy.core.limits.Counter;
import io.github.openaiproxy.core.limits.JdbcLimitStore;
import io.github.openaiproxy.core.limits.LimitStore;
import io.github.openaiproxy.core.limits.RedisLimitStore;
import io.github.openaiproxy.core.limits.Reservation;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.core.usage.PriceTable;
import io.github.openaiproxy.core.usage.TokenCounter;
import io.github.openaiproxy.core.usage.TokenUsage;
import io.github.openaiproxy.servlet.support.StubUpstream;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import io.github.openaiproxy.testkit.TestRedis;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.sync.RedisCommands;
import java.math.BigDecimal;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.postgresql.ds.PGSimpleDataSource;

/**
 * Two proxies (two engines in two Tomcats, each with its own connection to the store, as two replicas) sharing
 * one Redis or one PostgreSQL, over HTTP: a token limit and a money budget pass exactly the requests that fit,
 * however the requests are spread; and a real Redis stopped mid-test: rate limits are allowed and counted once
 * it is back, budgets are refused with 503 {@code limits_unavailable}.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class SharedLimitsHttpTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String REQUEST =
            "{\"model\":\"gpt-4o-mini\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":\"Hello, how are you?\"}]}";

    private final AtomicInteger upstreamCalls = new AtomicInteger();
    private final List<AutoCloseable> closing = new ArrayList<>();
    private final HttpClient http =
            HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    private StubUpstream upstream;
    /**
     * The PostgreSQL tables' prefix, this test's own: other modules' tests may use the default tables on the same
     * server at the same time (the build runs modules in parallel).
     */
    private final String pgPrefix =
            "s" + UUID.randomUUID().toString().substring(0, 8).toLowerCase(Locale.ROOT) + "_";

    private PGSimpleDataSource pg;

    @AfterEach
    void stop() throws Exception {
        for (int i = closing.size() - 1; i >= 0; i--) {
            closing.get(i).close();
        }
        if (pg != null) {
            try (var c = pg.getConnection();
                    var s = c.createStatement()) {
                for (String t :
                        new String[] {"limit_counters", "limit_leases", "limit_marks", "limits_schema_version"}) {
                    s.execute("DROP TABLE IF EXISTS " + pgPrefix + t);
                }
            }
        }
        if (upstream != null) {
            assertThat(upstream.handlerFailures()).isEmpty();
            upstream.close();
        }
    }

    /** Input tokens as the proxy counts them; the upstream reports exactly the estimate as used. */
    private static long inputTokens() throws Exception {
        return TokenCounter.standard().inputTokens("gpt-4o-mini", JSON.readTree(REQUEST));
    }

    private void startUpstream() throws Exception {
        long input = inputTokens();
        byte[] answer = ("{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1741569952,"
                        + "\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
                        + "\"assistant\",\"content\":\"Fine\"},\"finish_reason\":\"length\"}],\"usage\":{"
                        + "\"prompt_tokens\":" + input + ",\"completion_tokens\":10,\"total_tokens\":" + (input + 10)
                        + "}}")
                .getBytes(StandardCharsets.UTF_8);
        upstream = StubUpstream.start(ex -> {
            upstreamCalls.incrementAndGet();
            ex.respond(200, "application/json", answer);
        });
    }

    private TomcatProxy proxy(LimitStore store, Map<String, String> rules) {
        Map<String, String> settings = new HashMap<>(rules);
        settings.put("access.trusted-proxies", "127.0.0.1");
        settings.put("limits.max-concurrent-upstream-calls-per-client", "0");
        ProxyConfig config = ProxySettings.from(settings)
                .applyTo(ProxyConfig.builder()
                        .apiKey("sk-server-key-123456")
                        .upstream(UpstreamConfig.defaults().withBaseUrl(upstream.baseUrl())))
                .build();
        TomcatProxy proxy = TomcatProxy.servlet(
                ProxyEngine.builder(config).limitStore(store).build());
        closing.add(proxy);
        return proxy;
    }

    private LimitStore store(String backend) {
        LimitStore store;
        if (backend.equals("redis")) {
            store = RedisLimitStore.connect(TestRedis.url());
        } else {
            String url = System.getenv("OPENAI_PROXY_TEST_PG_URL");
            if ("required".equals(System.getenv("OPENAI_PROXY_PG_TESTS"))) {
                assertThat(url)
                        .as("OPENAI_PROXY_TEST_PG_URL (.ci/run starts PostgreSQL)")
                        .isNotBlank();
            }
            Assumptions.assumeTrue(url != null && !url.isBlank(), "OPENAI_PROXY_TEST_PG_URL is not set");
            pg = new PGSimpleDataSource();
            pg.setURL(url);
            pg.setUser(System.getenv("OPENAI_PROXY_TEST_PG_USER"));
            pg.setPassword(System.getenv("OPENAI_PROXY_TEST_PG_PASSWORD"));
            // Pooled, as an application's DataSource is: an unpooled connection per call was slower to open than
            // the store's timeout allows once a burst queued behind it.
            com.zaxxer.hikari.HikariConfig hikari = new com.zaxxer.hikari.HikariConfig();
            hikari.setDataSource(pg);
            hikari.setMaximumPoolSize(8);
            com.zaxxer.hikari.HikariDataSource pool = new com.zaxxer.hikari.HikariDataSource(hikari);
            closing.add(pool::close);
            store = JdbcLimitStore.builder(pool).tablePrefix(pgPrefix).build();
        }
        closing.add(store::close);
        return store;
    }

    /** An address of a caller the shared store has never seen, as a trusted reverse proxy forwards it. */
    private static String newCaller() {
        ThreadLocalRandom r = ThreadLocalRandom.current();
        return "10." + r.nextInt(256) + "." + r.nextInt(256) + "." + (1 + r.nextInt(254));
    }

    private CompletableFuture<HttpResponse<String>> send(TomcatProxy proxy, String caller) {
        return http.sendAsync(
                HttpRequest.newBuilder(proxy.uri("/v1/chat/completions"))
                        .header("Content-Type", "application/json")
                        .header("X-Forwarded-For", caller)
                        .POST(HttpRequest.BodyPublishers.ofString(REQUEST))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    /** {@code n} requests of one caller at once, alternating between the proxies; the answers by status. */
    private Map<Integer, List<HttpResponse<String>>> burst(List<TomcatProxy> proxies, int n, String caller)
            throws Exception {
        List<CompletableFuture<HttpResponse<String>>> sent = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            sent.add(send(proxies.get(i % proxies.size()), caller));
        }
        CompletableFuture.allOf(sent.toArray(CompletableFuture[]::new)).get(60, TimeUnit.SECONDS);
        Map<Integer, List<HttpResponse<String>>> byStatus = new HashMap<>();
        for (CompletableFuture<HttpResponse<String>> f : sent) {
            HttpResponse<String> r = f.join();
            byStatus.computeIfAbsent(r.statusCode(), k -> new ArrayList<>()).add(r);
        }
        return byStatus;
    }

    /** Two proxies on one store, warmed up (a cold JVM's first burst can outlast the store's timeout). */
    private List<TomcatProxy> twoWarmProxies(String backend, Map<String, String> rules) throws Exception {
        List<TomcatProxy> proxies = List.of(proxy(store(backend), rules), proxy(store(backend), rules));
        burst(proxies, 20, newCaller());
        upstreamCalls.set(0);
        return proxies;
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"redis", "postgres"})
    void aTokenLimitPassesExactlyWhatFitsAcrossTwoInstances(String backend) throws Exception {
        startUpstream();
        long estimate = inputTokens() + 10;
        List<TomcatProxy> proxies =
                twoWarmProxies(backend, Map.of("policies.anonymous.tokens-per-minute", Long.toString(40 * estimate)));

        Map<Integer, List<HttpResponse<String>>> answers = burst(proxies, 120, newCaller());

        assertThat(answers.keySet()).containsOnly(200, 429);
        assertThat(answers.get(200)).hasSize(40);
        assertThat(answers.get(429)).allSatisfy(r -> {
            assertThat(r.body()).contains("\"code\":\"rate_limit_exceeded\"").contains("\"type\":\"tokens\"");
            assertThat(r.headers().firstValue("x-ratelimit-limit-tokens")).contains(Long.toString(40 * estimate));
        });
        assertThat(upstreamCalls).hasValue(40);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"redis", "postgres"})
    void aMoneyBudgetPassesExactlyWhatFitsAcrossTwoInstances(String backend) throws Exception {
        startUpstream();
        long cost = PriceTable.shipped()
                .costNanoUsd("gpt-4o-mini", new TokenUsage(inputTokens(), 0, 10, 0, 0), null, null)
                .orElseThrow();
        String budget = BigDecimal.valueOf(40 * cost, 9).toPlainString();
        List<TomcatProxy> proxies = twoWarmProxies(backend, Map.of("policies.anonymous.cost-per-day", budget));

        Map<Integer, List<HttpResponse<String>>> answers = burst(proxies, 120, newCaller());

        assertThat(answers.keySet()).containsOnly(200, 429);
        assertThat(answers.get(200)).as("passed under a budget of $%s", budget).hasSize(40);
        assertThat(answers.get(429)).allSatisfy(r -> {
            assertThat(r.body()).contains("\"code\":\"insufficient_quota\"");
            assertThat(r.headers().firstValue("x-should-retry")).contains("false");
        });
        assertThat(upstreamCalls).hasValue(40);
    }

    @Test
    void whileRedisIsDownRateLimitsAreAllowedAndCountedLaterAndBudgetsRefused() throws Exception {
        startUpstream();
        TestRedis.Server redis = TestRedis.newServer().start();
        closing.add(redis);
        CountingStore store = new CountingStore(RedisLimitStore.connect(redis.url()));
        closing.add(store);
        TomcatProxy rated = proxy(store, Map.of("policies.anonymous.requests-per-minute", "3"));
        TomcatProxy budgeted = proxy(store, Map.of("policies.anonymous.cost-per-day", "1.00"));
        String caller = newCaller();

        HttpResponse<String> first = send(rated, caller).get();
        assertThat(first.statusCode()).isEqualTo(200);
        assertThat(first.headers().firstValue("x-ratelimit-remaining-requests")).contains("2");

        redis.stop();
        for (int i = 0; i < 2; i++) {
            HttpResponse<String> allowed = send(rated, caller).get();
            assertThat(allowed.statusCode()).as(allowed.body()).isEqualTo(200);
        }
        HttpResponse<String> refused = send(budgeted, caller).get();
        assertThat(refused.statusCode()).as(refused.body()).isEqualTo(503);
        assertThat(refused.body()).contains("\"code\":\"limits_unavailable\"");
        assertThat(refused.headers().firstValue("Retry-After")).contains("1");
        assertThat(upstreamCalls)
                .as("the budget's refusal did not reach the upstream")
                .hasValue(3);

        // Back, empty (a crash loses its counters): the budget is served again once Lettuce has reconnected.
        redis.start();
        await().atMost(Duration.ofSeconds(20))
                .pollInterval(Duration.ofMillis(100))
                .until(() -> send(budgeted, caller).get().statusCode() == 200);
        int before = store.completed.get();
        HttpResponse<String> afterRestart = send(rated, caller).get();
        assertThat(afterRestart.statusCode()).isEqualTo(200);
        // Its own reservation, then the two charges kept while Redis was down.
        await().atMost(Duration.ofSeconds(10)).until(() -> store.completed.get() >= before + 3);

        // 1 now + 2 counted later = the 3 of the limit: without the backlog this one would pass.
        HttpResponse<String> over = send(rated, caller).get();
        assertThat(over.statusCode()).as(over.body()).isEqualTo(429);
        assertThat(over.body()).contains("\"code\":\"rate_limit_exceeded\"");
    }

    /**
     * A proxy that starts while its Redis cannot be reached (a rollout during a Redis restart) starts all the same,
     * on the store the engine makes from {@code limits.store=redis}: rate limits are allowed and counted later,
     * budgets refused, as while Redis goes down at runtime. Once Redis listens the store connects by itself, counts,
     * and the charges kept meanwhile are added once.
     */
    @Test
    void aProxyStartedWhileRedisIsUnreachableServesByTheWhenDownRulesThenCountsOnceItIsUp() throws Exception {
        startUpstream();
        TestRedis.Server redis = TestRedis.newServer(); // not started: nothing listens on its port yet
        closing.add(redis);
        TomcatProxy rated = proxyOn(redis.url(), Map.of("policies.anonymous.requests-per-minute", "3"));
        TomcatProxy budgeted = proxyOn(redis.url(), Map.of("policies.anonymous.cost-per-day", "1.00"));
        String caller = newCaller();

        for (int i = 0; i < 2; i++) {
            HttpResponse<String> allowed = send(rated, caller).get(10, TimeUnit.SECONDS);
            assertThat(allowed.statusCode()).as(allowed.body()).isEqualTo(200);
        }
        HttpResponse<String> refused = send(budgeted, caller).get(10, TimeUnit.SECONDS);
        assertThat(refused.statusCode()).as(refused.body()).isEqualTo(503);
        assertThat(refused.body()).contains("\"code\":\"limits_unavailable\"");
        assertThat(upstreamCalls)
                .as("the budget's refusal did not reach the upstream")
                .hasValue(2);

        redis.start();
        await("the store connected by itself: another caller's request is counted in Redis")
                .atMost(Duration.ofSeconds(30))
                .pollInterval(Duration.ofMillis(200))
                .until(() -> send(rated, newCaller())
                        .get(10, TimeUnit.SECONDS)
                        .headers()
                        .firstValue("x-ratelimit-remaining-requests")
                        .equals(java.util.Optional.of("2")));
        RedisClient admin = RedisClient.create(redis.url());
        closing.add(() -> admin.shutdown(Duration.ZERO, Duration.ofSeconds(2)));
        RedisCommands<String, String> redisCli = admin.connect().sync();
        await("the two requests kept while Redis was unreachable are added, once")
                .atMost(Duration.ofSeconds(10))
                .pollInterval(Duration.ofMillis(100))
                .untilAsserted(() -> assertThat(requestsPerMinute(redisCli)).contains(2L));
        assertThat(requestsPerMinute(redisCli)).doesNotContain(3L, 4L);

        HttpResponse<String> third = send(rated, caller).get(10, TimeUnit.SECONDS);
        assertThat(third.statusCode()).as(third.body()).isEqualTo(200);
        assertThat(third.headers().firstValue("x-ratelimit-remaining-requests")).contains("0");
        HttpResponse<String> over = send(rated, caller).get(10, TimeUnit.SECONDS);
        assertThat(over.statusCode()).as(over.body()).isEqualTo(429);
        assertThat(send(budgeted, caller).get(10, TimeUnit.SECONDS).statusCode())
                .as("the budget is served once Redis answers")
                .isEqualTo(200);
    }

    /**
     * A Redis that answers but refuses the connection is a misconfiguration, not an outage: a wrong or missing
     * password, a database the server does not have, and a URL whose host cannot be one still stop the start, naming
     * {@code limits.redis-url} and never the password.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(
            strings = {
                "redis://:wrong-pass-123@127.0.0.1:%d",
                "redis://127.0.0.1:%d",
                "redis://:right-pass-123@127.0.0.1:%d/99",
                "redis://:right-pass-123#x@127.0.0.1:%d",
                "redis://:right-pass-123@127.0.0.1:notaport"
            })
    void aRedisThatRefusesTheConnectionStillStopsTheStart(String url) throws Exception {
        startUpstream();
        TestRedis.Server redis = TestRedis.newServer().start();
        closing.add(redis);
        RedisClient admin = RedisClient.create(redis.url());
        closing.add(() -> admin.shutdown(Duration.ZERO, Duration.ofSeconds(2)));
        admin.connect().sync().configSet("requirepass", "right-pass-123");

        Throwable thrown = org.assertj.core.api.Assertions.catchThrowable(
                () -> proxyOn(url.formatted(redis.port()), Map.of("policies.anonymous.requests-per-minute", "3")));

        assertThat(thrown).isNotNull();
        List<String> said = new ArrayList<>();
        for (Throwable t = thrown; t != null; t = t.getCause()) {
            said.add(t.toString());
        }
        assertThat(String.join("; ", said)).contains("limits.redis-url").doesNotContain("pass-123");
        // The right password starts it, and counts.
        TomcatProxy proxy = proxyOn(
                "redis://:right-pass-123@127.0.0.1:" + redis.port(),
                Map.of("policies.anonymous.requests-per-minute", "3"));
        assertThat(send(proxy, newCaller())
                        .get(10, TimeUnit.SECONDS)
                        .headers()
                        .firstValue("x-ratelimit-remaining-requests"))
                .contains("2");
    }

    /**
     * The same for a Redis Cluster (a one-node cluster of the test's own, with a password), named by one node ({@code
     * redis-cluster://}) or by a list of nodes: a wrong or missing password stops the start, naming {@code
     * limits.redis-url} and never the password, instead of starting without the store and trying again forever.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(
            strings = {
                "redis-cluster://:wrong-pass-123@127.0.0.1:%1$d",
                "redis-cluster://127.0.0.1:%1$d",
                "redis://:wrong-pass-123@127.0.0.1:%1$d,redis://:wrong-pass-123@127.0.0.1:%1$d"
            })
    void aRedisClusterThatRefusesTheConnectionStillStopsTheStart(String url) throws Exception {
        startUpstream();
        TestRedis.Server redis = TestRedis.newClusterNode().start();
        closing.add(redis);
        RedisClient admin = RedisClient.create(redis.url());
        closing.add(() -> admin.shutdown(Duration.ZERO, Duration.ofSeconds(2)));
        admin.connect().sync().configSet("requirepass", "right-pass-123");

        Throwable thrown = org.assertj.core.api.Assertions.catchThrowable(
                () -> proxyOn(url.formatted(redis.port()), Map.of("policies.anonymous.requests-per-minute", "3")));

        assertThat(thrown).as("the start with " + url).isNotNull();
        List<String> said = new ArrayList<>();
        for (Throwable t = thrown; t != null; t = t.getCause()) {
            said.add(t.toString());
        }
        assertThat(String.join("; ", said)).contains("limits.redis-url").doesNotContain("pass-123");
        TomcatProxy proxy = proxyOn(
                "redis-cluster://:right-pass-123@127.0.0.1:" + redis.port(),
                Map.of("policies.anonymous.requests-per-minute", "3"));
        assertThat(send(proxy, newCaller())
                        .get(10, TimeUnit.SECONDS)
                        .headers()
                        .firstValue("x-ratelimit-remaining-requests"))
                .contains("2");
    }

    /** A proxy whose engine makes its own Redis store from the settings, as the servlet initializer's does. */
    private TomcatProxy proxyOn(String redisUrl, Map<String, String> rules) {
        Map<String, String> settings = new HashMap<>(rules);
        settings.put("access.trusted-proxies", "127.0.0.1");
        settings.put("limits.max-concurrent-upstream-calls-per-client", "0");
        settings.put("limits.store", "redis");
        settings.put("limits.redis-url", redisUrl);
        ProxyConfig config = ProxySettings.from(settings)
                .applyTo(ProxyConfig.builder()
                        .apiKey("sk-server-key-123456")
                        .upstream(UpstreamConfig.defaults().withBaseUrl(upstream.baseUrl())))
                .build();
        TomcatProxy proxy = TomcatProxy.servlet(ProxyEngine.builder(config).build());
        closing.add(proxy);
        return proxy;
    }

    /**
     * Redis applies a settlement but its answer comes after the store's timeout (here a {@code CLIENT PAUSE}: the
     * script was sent and runs once the pause ends; a reset connection or a lost reply does the same). The proxy,
     * told the store failed, keeps the settlement for later and applies it again once Redis answers: the settlement
     * counts once all the same.
     */
    @Test
    void aSettlementRedisAppliedAfterItsTimeoutIsCountedOnceWhenKeptForLater() throws Exception {
        long input = inputTokens();
        // 2 of the 10 output tokens estimated: the settlement gives 8 back.
        byte[] answer = ("{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1741569952,"
                        + "\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
                        + "\"assistant\",\"content\":\"Fine\"},\"finish_reason\":\"stop\"}],\"usage\":{"
                        + "\"prompt_tokens\":" + input + ",\"completion_tokens\":2,\"total_tokens\":" + (input + 2)
                        + "}}")
                .getBytes(StandardCharsets.UTF_8);
        CountDownLatch called = new CountDownLatch(1);
        CountDownLatch paused = new CountDownLatch(1);
        upstream = StubUpstream.start(ex -> {
            if (upstreamCalls.incrementAndGet() == 2) {
                called.countDown();
                assertThat(paused.await(10, TimeUnit.SECONDS)).isTrue();
            }
            ex.respond(200, "application/json", answer);
        });
        TestRedis.Server redis = TestRedis.newServer().start(); // its own: the pause stops every client of it
        closing.add(redis);
        LimitStore store = RedisLimitStore.connect(redis.url(), Duration.ofSeconds(1));
        closing.add(store);
        TomcatProxy proxy =
                proxy(store, Map.of("policies.anonymous.tokens-per-minute", "100000", "limits.store-timeout", "1s"));
        RedisClient admin = RedisClient.create(redis.url());
        closing.add(() -> admin.shutdown(Duration.ZERO, Duration.ofSeconds(2)));
        RedisCommands<String, String> redisCli = admin.connect().sync();
        // A first request: Redis holds the scripts from now on, as it does in a service running for a while.
        assertThat(send(proxy, newCaller()).get(10, TimeUnit.SECONDS).statusCode())
                .isEqualTo(200);

        CompletableFuture<HttpResponse<String>> first = send(proxy, newCaller());
        assertThat(called.await(10, TimeUnit.SECONDS)).isTrue(); // reserved: the upstream has the call
        redisCli.clientPause(3_000); // the settlement waits, times out, then runs when the pause ends
        paused.countDown();
        assertThat(first.get(10, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
        // Redis runs the settlement once the pause ends (the admin's commands wait for it too).
        await().atMost(Duration.ofSeconds(10))
                .pollInterval(Duration.ofMillis(100))
                .untilAsserted(() -> assertThat(tokensPerMinute(redisCli)).containsExactly(input + 2, input + 2));

        // Another caller's request: Redis answers, so the proxy applies what it kept.
        assertThat(send(proxy, newCaller()).get(10, TimeUnit.SECONDS).statusCode())
                .isEqualTo(200);
        await("every caller's counter holds its real usage, and stays there")
                .atMost(Duration.ofSeconds(10))
                .during(Duration.ofSeconds(1))
                .pollInterval(Duration.ofMillis(100))
                .untilAsserted(() -> assertThat(tokensPerMinute(redisCli))
                        .as("the tokens-per-minute counters of the three callers")
                        .containsExactly(input + 2, input + 2, input + 2));
    }

    /**
     * In Spring the store runs on the application's Lettuce client, which sends a command again once it has
     * reconnected when its connection broke before the reply (at least once). A reservation Redis made whose reply
     * was lost with its connection is sent again: it is made once, and the answer says so.
     */
    @Test
    void aReservationSentAgainByTheApplicationsClientAfterALostReplyCountsOnce() throws Exception {
        startUpstream();
        TestRedis.Link link =
                TestRedis.link(java.net.URI.create(TestRedis.url()).getPort());
        closing.add(link);
        RedisClient client = RedisClient.create(link.url());
        closing.add(() -> client.shutdown(Duration.ZERO, Duration.ofSeconds(2)));
        // Spring Data Redis's LettuceConnectionFactory's options: reconnect, and keep the commands in flight.
        client.setOptions(io.lettuce.core.ClientOptions.builder()
                .timeoutOptions(io.lettuce.core.TimeoutOptions.enabled())
                .build());
        LimitStore store = RedisLimitStore.using(client, Duration.ofSeconds(5));
        closing.add(store);
        TomcatProxy proxy =
                proxy(store, Map.of("policies.anonymous.requests-per-minute", "100", "limits.store-timeout", "5s"));
        String caller = newCaller();
        HttpResponse<String> first = send(proxy, caller).get(10, TimeUnit.SECONDS); // the scripts are loaded
        assertThat(first.headers().firstValue("x-ratelimit-remaining-requests")).contains("99");

        link.dropNextReply(); // the reservation's
        HttpResponse<String> second = send(proxy, caller).get(15, TimeUnit.SECONDS);

        assertThat(second.statusCode()).as(second.body()).isEqualTo(200);
        assertThat(second.headers().firstValue("x-ratelimit-remaining-requests"))
                .as("the second request counted once")
                .contains("98");
        HttpResponse<String> third = send(proxy, caller).get(10, TimeUnit.SECONDS);
        assertThat(third.headers().firstValue("x-ratelimit-remaining-requests")).contains("97");
    }

    /**
     * A charge kept while Redis was down is replayed once Redis answers again; when Redis applied the replay but its
     * reply was lost with the connection, the store reports a failure, the backlog keeps the charge and replays it
     * again on the next request Redis answers: it counts once all the same.
     */
    @Test
    void aChargeKeptWhileRedisWasDownCountsOnceWhenTheReplysReplyIsLost() throws Exception {
        startUpstream();
        TestRedis.Server redis = TestRedis.newServer().start(); // its own: it is stopped
        closing.add(redis);
        TestRedis.Link link = TestRedis.link(redis.port());
        closing.add(link);
        ReplayReplyDropping store = new ReplayReplyDropping(RedisLimitStore.connect(link.url()), link);
        closing.add(store);
        TomcatProxy proxy = proxy(store, Map.of("policies.anonymous.requests-per-minute", "100"));
        RedisClient admin = RedisClient.create(redis.url());
        closing.add(() -> admin.shutdown(Duration.ZERO, Duration.ofSeconds(2)));
        String caller = newCaller();
        assertThat(send(proxy, caller).get(10, TimeUnit.SECONDS).statusCode()).isEqualTo(200);

        redis.stop(); // and back empty, as after a crash: what counts after it is what the backlog replays
        HttpResponse<String> allowed = send(proxy, caller).get(10, TimeUnit.SECONDS);
        assertThat(allowed.statusCode()).as(allowed.body()).isEqualTo(200); // counted later
        redis.start();
        store.dropNextReplay.set(true); // the first replay's reply is lost after Redis applied it
        RedisCommands<String, String> redisCli = admin.connect().sync();
        await("the replay Redis applied was replayed again, and counted once")
                .atMost(Duration.ofSeconds(30))
                .pollInterval(Duration.ofMillis(200))
                .until(() -> {
                    send(proxy, newCaller()).get(10, TimeUnit.SECONDS); // Redis answers it: the backlog drains
                    return store.replays.get() >= 2 && store.replayed.get() >= 1;
                });
        await().atMost(Duration.ofSeconds(10))
                .during(Duration.ofSeconds(1))
                .pollInterval(Duration.ofMillis(100))
                .untilAsserted(() -> assertThat(requestsPerMinute(redisCli))
                        .as("Redis restarted empty: the caller's request kept for later, one of each other caller")
                        .isNotEmpty()
                        .containsOnly(1L));
    }

    /**
     * PostgreSQL commits a request's settlement but the answer to the commit is lost with the connection (a relay
     * between the pool and the server drops it): the store fails, the proxy keeps the settlement and applies it
     * again once the store answers another request. It counts once.
     */
    @Test
    void aSettlementPostgresCommittedWhoseAnswerWasLostCountsOnceWhenKeptForLater() throws Exception {
        long input = inputTokens();
        // 2 of the 10 output tokens estimated: the settlement gives 8 back.
        byte[] answer = ("{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1741569952,"
                        + "\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
                        + "\"assistant\",\"content\":\"Fine\"},\"finish_reason\":\"stop\"}],\"usage\":{"
                        + "\"prompt_tokens\":" + input + ",\"completion_tokens\":2,\"total_tokens\":" + (input + 2)
                        + "}}")
                .getBytes(StandardCharsets.UTF_8);
        CountDownLatch called = new CountDownLatch(1);
        CountDownLatch armed = new CountDownLatch(1);
        upstream = StubUpstream.start(ex -> {
            if (upstreamCalls.incrementAndGet() == 2) {
                called.countDown();
                assertThat(armed.await(10, TimeUnit.SECONDS)).isTrue();
            }
            ex.respond(200, "application/json", answer);
        });
        store("postgres"); // the tables, and the test's own view of them (pg)
        java.net.URI pgUri =
                java.net.URI.create(System.getenv("OPENAI_PROXY_TEST_PG_URL").substring("jdbc:".length()));
        CommitAnswerDropping relay = new CommitAnswerDropping(pgUri.getPort());
        closing.add(relay);
        PGSimpleDataSource relayed = new PGSimpleDataSource();
        relayed.setURL("jdbc:postgresql://127.0.0.1:" + relay.port() + pgUri.getPath());
        relayed.setUser(System.getenv("OPENAI_PROXY_TEST_PG_USER"));
        relayed.setPassword(System.getenv("OPENAI_PROXY_TEST_PG_PASSWORD"));
        // The relay reads the protocol: in clear, and COMMIT sent as text each time (never a prepared statement).
        relayed.setSslMode("disable");
        relayed.setPrepareThreshold(0);
        com.zaxxer.hikari.HikariConfig hikari = new com.zaxxer.hikari.HikariConfig();
        hikari.setDataSource(relayed);
        hikari.setMaximumPoolSize(4);
        com.zaxxer.hikari.HikariDataSource pool = new com.zaxxer.hikari.HikariDataSource(hikari);
        closing.add(pool::close);
        LimitStore store = JdbcLimitStore.builder(pool).tablePrefix(pgPrefix).build();
        closing.add(store::close);
        TomcatProxy proxy = proxy(store, Map.of("policies.anonymous.tokens-per-minute", "100000"));
        assertThat(send(proxy, newCaller()).get(10, TimeUnit.SECONDS).statusCode())
                .isEqualTo(200);

        CompletableFuture<HttpResponse<String>> first = send(proxy, newCaller());
        assertThat(called.await(10, TimeUnit.SECONDS)).isTrue(); // reserved and committed: the upstream has the call
        relay.dropNextCommitAnswer(); // the settlement's
        armed.countDown();
        assertThat(first.get(10, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
        await().atMost(Duration.ofSeconds(10)).until(() -> relay.dropped.get() == 1);

        // Other callers' requests: the store answers them, so the proxy applies the settlement it kept.
        for (int i = 0; i < 3; i++) {
            assertThat(send(proxy, newCaller()).get(10, TimeUnit.SECONDS).statusCode())
                    .isEqualTo(200);
        }
        await("every caller's counter holds its real usage, and stays there")
                .atMost(Duration.ofSeconds(10))
                .during(Duration.ofSeconds(1))
                .pollInterval(Duration.ofMillis(100))
                .untilAsserted(() -> assertThat(pgTokensPerMinute())
                        .as("the tokens-per-minute counters of the five callers")
                        .hasSize(5)
                        .containsOnly(input + 2));
    }

    /** The tokens-per-minute counters of every subject in this test's PostgreSQL tables. */
    private List<Long> pgTokensPerMinute() throws Exception {
        List<Long> counters = new ArrayList<>();
        try (var c = pg.getConnection();
                var rs = c.createStatement()
                        .executeQuery("SELECT used FROM " + pgPrefix
                                + "limit_counters WHERE counter = 'tokens-per-minute'")) {
            while (rs.next()) {
                counters.add(rs.getLong(1));
            }
        }
        return counters;
    }

    /**
     * A TCP relay on loopback to PostgreSQL which, when told, loses the answer to the next {@code COMMIT} a client
     * sends: it closes both connections instead of passing the answer on, after the server committed.
     */
    private static final class CommitAnswerDropping implements AutoCloseable {
        private static final byte[] COMMIT = "COMMIT".getBytes(StandardCharsets.US_ASCII);
        private final int target;
        private final java.net.ServerSocket server;
        private final java.util.concurrent.atomic.AtomicBoolean dropNext =
                new java.util.concurrent.atomic.AtomicBoolean();
        final AtomicInteger dropped = new AtomicInteger();
        private final List<java.net.Socket> sockets = new java.util.concurrent.CopyOnWriteArrayList<>();

        CommitAnswerDropping(int target) throws java.io.IOException {
            this.target = target;
            this.server = new java.net.ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress());
            daemon(this::accept);
        }

        int port() {
            return server.getLocalPort();
        }

        void dropNextCommitAnswer() {
            dropNext.set(true);
        }

        private void accept() {
            while (!server.isClosed()) {
                try {
                    java.net.Socket client = server.accept();
                    java.net.Socket pg = new java.net.Socket("127.0.0.1", target);
                    sockets.add(client);
                    sockets.add(pg);
                    // Set when this connection sent a COMMIT to lose the answer of: its next answer is that one.
                    java.util.concurrent.atomic.AtomicBoolean losing = new java.util.concurrent.atomic.AtomicBoolean();
                    daemon(() -> pump(client, pg, chunk -> {
                        if (contains(chunk, COMMIT) && dropNext.compareAndSet(true, false)) {
                            losing.set(true);
                        }
                        return true;
                    }));
                    daemon(() -> pump(pg, client, chunk -> {
                        if (losing.get()) {
                            dropped.incrementAndGet();
                            return false;
                        }
                        return true;
                    }));
                } catch (java.io.IOException e) {
                    return; // closed
                }
            }
        }

        private static boolean contains(byte[] chunk, byte[] what) {
            outer:
            for (int i = 0; i + what.length <= chunk.length; i++) {
                for (int j = 0; j < what.length; j++) {
                    if (chunk[i + j] != what[j]) {
                        continue outer;
                    }
                }
                return true;
            }
            return false;
        }

        /** Copies until either side closes, or {@code pass} says no to a chunk: then closes both. */
        private static void pump(java.net.Socket from, java.net.Socket to, java.util.function.Predicate<byte[]> pass) {
            byte[] buffer = new byte[65536];
            try {
                java.io.InputStream in = from.getInputStream();
                java.io.OutputStream out = to.getOutputStream();
                int n;
                while ((n = in.read(buffer)) > 0) {
                    if (!pass.test(java.util.Arrays.copyOf(buffer, n))) {
                        break;
                    }
                    out.write(buffer, 0, n);
                    out.flush();
                }
            } catch (java.io.IOException e) {
                // the other side closed
            } finally {
                closeQuietly(from);
                closeQuietly(to);
            }
        }

        private static void daemon(Runnable r) {
            Thread t = new Thread(r, "test-pg-relay");
            t.setDaemon(true);
            t.start();
        }

        private static void closeQuietly(java.io.Closeable c) {
            try {
                c.close();
            } catch (java.io.IOException ignored) {
                // closing anyway
            }
        }

        @Override
        public void close() {
            closeQuietly(server);
            sockets.forEach(CommitAnswerDropping::closeQuietly);
        }
    }

    /** The requests-per-minute counters of every subject in a Redis of the test's own, in ascending order. */
    private static List<Long> requestsPerMinute(RedisCommands<String, String> redis) {
        List<Long> counters = new ArrayList<>();
        for (String key : redis.keys(RedisLimitStore.PREFIX + "*:w")) {
            String v = redis.hget(key, "requests-per-minute:r60000");
            if (v != null) {
                counters.add(Long.parseLong(v));
            }
        }
        counters.sort(null);
        return counters;
    }

    /**
     * A store whose next replay of the backlog (a charge without a lease, kept while the store was down) loses its
     * reply on the relay after Redis ran it; counts the replays sent and those answered.
     */
    private static final class ReplayReplyDropping implements LimitStore, AutoCloseable {
        final LimitStore store;
        final TestRedis.Link link;
        final java.util.concurrent.atomic.AtomicBoolean dropNextReplay =
                new java.util.concurrent.atomic.AtomicBoolean();
        final AtomicInteger replays = new AtomicInteger();
        final AtomicInteger replayed = new AtomicInteger();

        ReplayReplyDropping(LimitStore store, TestRedis.Link link) {
            this.store = store;
            this.link = link;
        }

        private <T> CompletableFuture<T> replay(java.util.function.Supplier<CompletableFuture<T>> call) {
            replays.incrementAndGet();
            if (dropNextReplay.compareAndSet(true, false)) {
                link.dropNextReply();
            }
            return call.get().whenComplete((v, e) -> {
                if (e == null) {
                    replayed.incrementAndGet();
                }
            });
        }

        @Override
        public CompletableFuture<Admission> reserve(Reservation reservation) {
            // The backlog replays a charge as a reservation of its own, without a lease (before it had a call of its
            // own); a request's reservation has an id.
            return reservation.reservationId() == null
                    ? replay(() -> store.reserve(reservation))
                    : store.reserve(reservation);
        }

        /** The backlog's replay of a charge. */
        @Override
        public CompletableFuture<Void> count(
                String subject, io.github.openaiproxy.core.limits.Charge charge, String chargeId, long nowMillis) {
            return replay(() -> store.count(subject, charge, chargeId, nowMillis));
        }

        @Override
        public CompletableFuture<Void> adjust(String subject, List<Adjustment> adjustments, long nowMillis) {
            return store.adjust(subject, adjustments, nowMillis);
        }

        @Override
        public CompletableFuture<Void> release(String subject, Counter counter, String leaseId) {
            return store.release(subject, counter, leaseId);
        }

        @Override
        public String kind() {
            return store.kind();
        }

        @Override
        public void close() {
            store.close();
        }
    }

    /** The tokens-per-minute counters of every subject in a Redis of the test's own, in ascending order. */
    private static List<Long> tokensPerMinute(RedisCommands<String, String> redis) {
        List<Long> counters = new ArrayList<>();
        for (String key : redis.keys(RedisLimitStore.PREFIX + "*:w")) {
            String v = redis.hget(key, "tokens-per-minute:r60000");
            if (v != null) {
                counters.add(Long.parseLong(v));
            }
        }
        counters.sort(null);
        return counters;
    }

    /** A store that counts the calls the backend answered, so the test knows when the backlog has been added. */
    private static final class CountingStore implements LimitStore, AutoCloseable {
        final LimitStore store;
        final AtomicInteger completed = new AtomicInteger();

        CountingStore(LimitStore store) {
            this.store = store;
        }

        private <T> CompletableFuture<T> counted(CompletableFuture<T> f) {
            return f.whenComplete((v, e) -> {
                if (e == null) {
                    completed.incrementAndGet();
                }
            });
        }

        @Override
        public CompletableFuture<Admission> reserve(Reservation reservation) {
            return counted(store.reserve(reservation));
        }

        @Override
        public CompletableFuture<Void> adjust(String subject, List<Adjustment> adjustments, long nowMillis) {
            return counted(store.adjust(subject, adjustments, nowMillis));
        }

        @Override
        public CompletableFuture<Void> count(
                String subject, io.github.openaiproxy.core.limits.Charge charge, String chargeId, long nowMillis) {
            return counted(store.count(subject, charge, chargeId, nowMillis));
        }

        @Override
        public CompletableFuture<Void> release(String subject, Counter counter, String leaseId) {
            return counted(store.release(subject, counter, leaseId));
        }

        @Override
        public String kind() {
            return store.kind();
        }

        @Override
        public void close() {
            store.close();
        }
    }
}
