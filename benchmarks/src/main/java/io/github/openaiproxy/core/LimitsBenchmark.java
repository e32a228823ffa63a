package io.github.openaiproxy.core;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.github.openaiproxy.benchmarks.load.StubBodies;
import io.github.openaiproxy.core.access.AccessConfig;
import io.github.openaiproxy.core.access.Policy;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.internal.Bodies;
import io.github.openaiproxy.core.internal.HeaderMap;
import io.github.openaiproxy.core.internal.Json;
import io.github.openaiproxy.core.limits.JdbcLimitStore;
import io.github.openaiproxy.core.limits.LimitStore;
import io.github.openaiproxy.core.limits.RedisLimitStore;
import io.github.openaiproxy.core.upstream.UpstreamClient;
import io.github.openaiproxy.core.upstream.UpstreamRequest;
import io.github.openaiproxy.core.upstream.UpstreamResponse;
import io.github.openaiproxy.core.usage.TokenCounter;
import io.github.openaiproxy.core.usage.UsageLedger;
import io.github.openaiproxy.core.usage.ledger.InMemoryUsageLedger;
import io.lettuce.core.RedisClient;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.async.RedisAsyncCommands;
import io.lettuce.core.codec.StringCodec;
import java.net.http.HttpHeaders;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

/**
 * What the limit step adds to a request: one whole {@code POST /v1/chat/completions} through {@link
 * ProxyEngine#handle} against an in-memory upstream, one request at a time (one connection), without quotas, and
 * under a policy with every rate limit, a concurrency limit and a token budget (never reached): the body read and
 * parsed, the prompt counted by the real tokenizer, the reservation, the headers, the settlement by the real usage
 * tap. The store is the in-memory one (ledger off, a ledger that keeps nothing, the in-memory ledger), PostgreSQL
 * ({@link JdbcLimitStore}) or Redis ({@link RedisLimitStore}); beside the last two, the bare round trip on the
 * same pool or client ({@code SELECT 1}; Lettuce {@code PING} and an {@code EVALSHA} of {@code return 1}), so a
 * row can say round trip versus added. Sampled, so the report has p50 and p99 per request.
 *
 * <p>PostgreSQL and Redis come from {@code OPENAI_PROXY_TEST_PG_URL} / {@code _USER} / {@code _PASSWORD} and
 * {@code OPENAI_PROXY_TEST_REDIS_URL}; their benchmarks fail at set-up without them (select the others by name).
 */
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
@Threads(1)
@State(Scope.Benchmark)
public class LimitsBenchmark {
    static final byte[] ANSWER = StubBodies.chatCompletion();
    private static final long MANY = 1L << 50;

    /**
     * {@code chat400}: three messages, about 400 prompt tokens, the same every time (a history the caller's token
     * counts are remembered for); {@code chat400turn}: the same, but the last message is new on every request (a
     * chat's next turn: its history remembered, its question counted); {@code small}: the two-line body of the load
     * runs.
     */
    @Param({"chat400"})
    public String body;

    /**
     * A busy pause before each request, outside the measured time (microseconds; 0: back to back). Back to back,
     * a request's reservation queues behind the previous request's settlement on the store's one connection (it
     * was sent when that answer ended, not awaited): the figure then holds two requests' store work. A caller's
     * next request that crosses a network finds the settlement done; a pause longer than the settlement's round
     * trip measures that case. The pause spins rather than sleeps, so the threads and caches stay as warm as back
     * to back (a sleeping pause measures this machine's wake-up from idle instead).
     */
    @Param({"0"})
    public int pauseMicros;

    byte[] bytes;
    /** {@code chat400turn}: the body before and after the point where each request's question begins. */
    private byte[] head;

    private byte[] tail;
    private long turn;
    private com.fasterxml.jackson.databind.JsonNode parsed;
    private ProxyEngine none;
    private ProxyEngine limits;
    private ProxyEngine limitsAndLedger;
    private ProxyEngine limitsAndMemoryLedger;
    private ProxyEngine memoryLedgerOnly;

    @Setup(Level.Trial)
    public void setUp() throws Exception {
        bytes = body(body.equals("chat400turn") ? "chat400" : body);
        if (body.equals("chat400turn")) {
            String json = new String(bytes, StandardCharsets.UTF_8);
            int at = json.indexOf("We bonded");
            head = json.substring(0, at).getBytes(StandardCharsets.UTF_8);
            tail = json.substring(at).getBytes(StandardCharsets.UTF_8);
        }
        parsed = Json.parse(bytes);
        ProxyConfig plain = plain();
        none = ProxyEngine.create(plain, canned());
        ProxyConfig config = limited();
        limits = ProxyEngine.builder(config).upstreamClient(canned()).build();
        UsageLedger discard = r -> {};
        limitsAndLedger = ProxyEngine.builder(config)
                .upstreamClient(canned())
                .usageLedger(discard)
                .build();
        memoryLedgerOnly = ProxyEngine.builder(plain)
                .upstreamClient(canned())
                .usageLedger(new InMemoryUsageLedger(10_000, Duration.ofDays(90), java.time.Clock.systemUTC()))
                .build();
        limitsAndMemoryLedger = ProxyEngine.builder(config)
                .upstreamClient(canned())
                .usageLedger(new InMemoryUsageLedger(10_000, Duration.ofDays(90), java.time.Clock.systemUTC()))
                .build();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        none.close();
        limits.close();
        limitsAndLedger.close();
        limitsAndMemoryLedger.close();
        memoryLedgerOnly.close();
    }

    @Setup(Level.Invocation)
    public void pause() {
        if (pauseMicros > 0) {
            long until = System.nanoTime() + pauseMicros * 1_000L;
            while (System.nanoTime() - until < 0) {
                Thread.onSpinWait();
            }
        }
    }

    /** The body of the next request: {@link #bytes}, or for {@code chat400turn} with a question of its own. */
    private byte[] next() {
        if (head == null) {
            return bytes;
        }
        byte[] ticket = ("Ticket " + (++turn) + ": ").getBytes(StandardCharsets.UTF_8);
        byte[] b = new byte[head.length + ticket.length + tail.length];
        System.arraycopy(head, 0, b, 0, head.length);
        System.arraycopy(ticket, 0, b, head.length, ticket.length);
        System.arraycopy(tail, 0, b, head.length + ticket.length, tail.length);
        return b;
    }

    /** No quotas, no ledger: the step passes at once. */
    @Benchmark
    public int noLimits(Blackhole bh) {
        return exchange(none, next(), bh);
    }

    /** Every rate limit, concurrency and a token budget in memory. */
    @Benchmark
    public int memoryLimits(Blackhole bh) {
        return exchange(limits, next(), bh);
    }

    /** The same, with a ledger that takes every record and keeps nothing. */
    @Benchmark
    public int memoryLimitsAndLedger(Blackhole bh) {
        return exchange(limitsAndLedger, next(), bh);
    }

    /** No quotas, the in-memory ledger only ({@code ledger.store=memory}): the ledger's own cost per request. */
    @Benchmark
    public int memoryLedgerOnly(Blackhole bh) {
        return exchange(memoryLedgerOnly, next(), bh);
    }

    /** The same, with the in-memory ledger ({@code ledger.store=memory}). */
    @Benchmark
    public int memoryLimitsAndMemoryLedger(Blackhole bh) {
        return exchange(limitsAndMemoryLedger, next(), bh);
    }

    /** The part of the estimate that grows with the prompt: the parsed body's tokens by the model's tokenizer. */
    @Benchmark
    public long tokenCountAlone() {
        return TokenCounter.standard().inputTokens("gpt-4o-mini", parsed);
    }

    /** The same with {@code cl100k_base} (gpt-4, gpt-3.5), for which jtokkit has a parser without regex. */
    @Benchmark
    public long tokenCountAloneCl100k() {
        return TokenCounter.standard().inputTokens("gpt-4", parsed);
    }

    /** The limits counted in PostgreSQL, and {@code SELECT 1} on the same pool. */
    @State(Scope.Benchmark)
    public static class Postgres {
        HikariDataSource pool;
        LimitStore store;
        ProxyEngine engine;

        @Setup(Level.Trial)
        public void setUp() {
            String url = System.getenv("OPENAI_PROXY_TEST_PG_URL");
            if (url == null || url.isBlank()) {
                throw new IllegalStateException("set OPENAI_PROXY_TEST_PG_URL (and _USER, _PASSWORD)");
            }
            HikariConfig hikari = new HikariConfig();
            hikari.setJdbcUrl(url);
            hikari.setUsername(System.getenv("OPENAI_PROXY_TEST_PG_USER"));
            hikari.setPassword(System.getenv("OPENAI_PROXY_TEST_PG_PASSWORD"));
            hikari.setMaximumPoolSize(6);
            pool = new HikariDataSource(hikari);
            store = JdbcLimitStore.builder(pool)
                    .tablePrefix("bench_")
                    .cleanupEvery(Duration.ofMinutes(1))
                    .build();
            engine = ProxyEngine.builder(limited())
                    .upstreamClient(canned())
                    .limitStore(store)
                    .build();
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            engine.close();
            store.close();
            pool.close();
        }
    }

    /** Every limit counted in PostgreSQL ({@link JdbcLimitStore}, one transaction to reserve). */
    @Benchmark
    public int postgresLimits(Postgres pg, Blackhole bh) {
        return exchange(pg.engine, next(), bh);
    }

    /** The store's share of a request without the engine: the reservation awaited, release and settlement not. */
    @Benchmark
    public boolean postgresStoreAlone(Postgres pg) {
        return StoreTraffic.request(pg.store);
    }

    /** One round trip to PostgreSQL on the same pool: {@code SELECT 1}. */
    @Benchmark
    public int postgresRoundTrip(Postgres pg) throws Exception {
        try (Connection c = pg.pool.getConnection();
                Statement s = c.createStatement();
                ResultSet r = s.executeQuery("SELECT 1")) {
            r.next();
            return r.getInt(1);
        }
    }

    /** The limits counted in Redis, and the bare round trips on the same client. */
    @State(Scope.Benchmark)
    public static class Redis {
        RedisClient client;
        StatefulRedisConnection<String, String> connection;
        RedisAsyncCommands<String, String> commands;
        String trivialSha;
        LimitStore store;
        ProxyEngine engine;
        /** The same store under a policy with one rule: requests per minute. */
        ProxyEngine oneRule;

        @Setup(Level.Trial)
        public void setUp() {
            String url = System.getenv("OPENAI_PROXY_TEST_REDIS_URL");
            if (url == null || url.isBlank()) {
                throw new IllegalStateException("set OPENAI_PROXY_TEST_REDIS_URL");
            }
            client = RedisClient.create(url);
            // The store's own connection, as limits.redis-url makes it; the round trips on a second one.
            store = RedisLimitStore.connect(url);
            connection = client.connect(StringCodec.UTF8);
            commands = connection.async();
            trivialSha = connection.sync().scriptLoad("return 1");
            engine = ProxyEngine.builder(limited())
                    .upstreamClient(canned())
                    .limitStore(store)
                    .build();
            oneRule = ProxyEngine.builder(requestsPerMinute())
                    .upstreamClient(canned())
                    .limitStore(store)
                    .build();
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            engine.close();
            oneRule.close();
            store.close();
            connection.close();
            client.shutdown();
        }
    }

    /** Every limit counted in Redis ({@link RedisLimitStore}, one script to reserve). */
    @Benchmark
    public int redisLimits(Redis redis, Blackhole bh) {
        return exchange(redis.engine, next(), bh);
    }

    /** The typical policy, one rule (requests per minute), counted in Redis: one script, nothing to settle. */
    @Benchmark
    public int redisOneRule(Redis redis, Blackhole bh) {
        return exchange(redis.oneRule, next(), bh);
    }

    /** The store's share of a request without the engine: the reservation awaited, release and settlement not. */
    @Benchmark
    public boolean redisStoreAlone(Redis redis) {
        return StoreTraffic.request(redis.store);
    }

    /** One bare round trip to Redis: Lettuce's {@code PING}. */
    @Benchmark
    public String redisPing(Redis redis) {
        return redis.commands.ping().toCompletableFuture().join();
    }

    /** One round trip that runs a script: {@code EVALSHA} of {@code return 1}. */
    @Benchmark
    public Long redisTrivialScript(Redis redis) {
        return redis.commands
                .<Long>evalsha(redis.trivialSha, ScriptOutputType.INTEGER, new String[0])
                .toCompletableFuture()
                .join();
    }

    /**
     * What the limit step asks of its store per request under {@link #limited()}: one reservation of the seven
     * counters (awaited), then the three token counters settled and the lease given back, in one call (not
     * awaited, as the step does when the answer ends).
     */
    static final class StoreTraffic {
        private static final java.util.concurrent.atomic.AtomicLong LEASES =
                new java.util.concurrent.atomic.AtomicLong();
        private static final String SUBJECT = "anonymous|bench-store";
        private static final io.github.openaiproxy.core.limits.Counter LEASE =
                new io.github.openaiproxy.core.limits.Counter(
                        "concurrent-requests",
                        MANY,
                        new io.github.openaiproxy.core.limits.Window.Lease(Duration.ofMinutes(10)));
        private static final List<io.github.openaiproxy.core.limits.Counter> TOKENS = List.of(
                rolling("tokens-per-minute", Duration.ofMinutes(1)),
                rolling("tokens-per-day", Duration.ofDays(1)),
                new io.github.openaiproxy.core.limits.Counter(
                        "tokens-per-month",
                        MANY,
                        new io.github.openaiproxy.core.limits.Window.Calendar(
                                io.github.openaiproxy.core.limits.Window.Period.MONTH)));
        private static final List<io.github.openaiproxy.core.limits.Counter> REQUESTS = List.of(
                rolling("requests-per-minute", Duration.ofMinutes(1)),
                rolling("requests-per-hour", Duration.ofHours(1)),
                rolling("requests-per-day", Duration.ofDays(1)));

        private static io.github.openaiproxy.core.limits.Counter rolling(String name, Duration length) {
            return new io.github.openaiproxy.core.limits.Counter(
                    name, MANY, new io.github.openaiproxy.core.limits.Window.Rolling(length));
        }

        static boolean request(LimitStore store) {
            long now = System.currentTimeMillis();
            String lease = "bench-" + LEASES.incrementAndGet();
            List<io.github.openaiproxy.core.limits.Charge> charges = new java.util.ArrayList<>(7);
            for (io.github.openaiproxy.core.limits.Counter c : REQUESTS) {
                charges.add(new io.github.openaiproxy.core.limits.Charge(c, 1));
            }
            for (io.github.openaiproxy.core.limits.Counter c : TOKENS) {
                charges.add(new io.github.openaiproxy.core.limits.Charge(c, 723));
            }
            charges.add(new io.github.openaiproxy.core.limits.Charge(LEASE, 1));
            io.github.openaiproxy.core.limits.Admission admission = store.reserve(
                            new io.github.openaiproxy.core.limits.Reservation(SUBJECT, charges, lease, now))
                    .join();
            List<io.github.openaiproxy.core.limits.Adjustment> refunds = new java.util.ArrayList<>(3);
            for (int i = 0; i < TOKENS.size(); i++) {
                long start = admission.states().get(3 + i).windowStartMillis();
                refunds.add(new io.github.openaiproxy.core.limits.Adjustment(TOKENS.get(i), start, -300));
            }
            store.settle(SUBJECT, refunds, LEASE, lease, now);
            return admission.admitted();
        }
    }

    static ProxyConfig plain() {
        return ProxyConfig.builder().apiKey("sk-bench").build();
    }

    /** Every request and token limit, concurrency and a monthly token budget, never reached. */
    static ProxyConfig limited() {
        return anonymousUnder(
                new Policy.Quotas(MANY, MANY, MANY, MANY, MANY, MANY, MANY, null, null, Policy.Unpriced.REFUSE));
    }

    /** One rule: requests per minute, never reached (no token count, no lease, no settlement). */
    static ProxyConfig requestsPerMinute() {
        return anonymousUnder(
                new Policy.Quotas(MANY, null, null, null, null, null, null, null, null, Policy.Unpriced.REFUSE));
    }

    /** {@link #plain()} with anonymous callers under a policy of these quotas and nothing else. */
    private static ProxyConfig anonymousUnder(Policy.Quotas quotas) {
        Policy policy = new Policy(
                Policy.ANONYMOUS,
                List.of(),
                List.of(),
                null,
                null,
                Policy.OverCap.CLAMP,
                List.of(),
                List.of(),
                List.of(),
                quotas);
        return plain().toBuilder()
                .access(AccessConfig.DEFAULTS.withPolicies(Map.of(Policy.ANONYMOUS, policy)))
                .build();
    }

    static byte[] body(String name) throws Exception {
        byte[] b = switch (name) {
            case "small" -> StubBodies.chatRequest(false);
            case "chat400" -> chat400();
            default -> throw new IllegalArgumentException("body: small or chat400, not " + name);
        };
        long tokens = TokenCounter.standard().inputTokens("gpt-4o-mini", Json.parse(b));
        System.err.println("# body " + name + ": " + b.length + " bytes, " + tokens + " prompt tokens");
        return b;
    }

    /** A system prompt, a pasted document and a question: about 400 prompt tokens. */
    static byte[] chat400() {
        String system = "You are a support assistant for a company that sells network equipment. Answer in plain"
                + " English, cite the section of the manual you rely on, and say so when the manual does not cover"
                + " the question. Keep answers under two hundred words unless the user asks for detail.";
        String document = "Section 4.2, Link aggregation. The switch groups up to eight ports of the same speed into"
                + " one logical link. Traffic is spread across member ports by a hash of the source and destination"
                + " addresses, so a single flow never uses more than one port. When a member port fails, its flows"
                + " move to the remaining ports within 300 milliseconds; no configuration change is needed. LACP"
                + " (IEEE 802.3ad) negotiates membership with the peer: both ends must agree on the group, or the"
                + " ports stay in standalone mode and a warning is logged. Static groups skip negotiation and are"
                + " only recommended towards devices without LACP. Section 4.3, Spanning tree. A link aggregation"
                + " group counts as one port for the spanning tree, so its member ports are never blocked"
                + " individually. Rapid spanning tree converges in under two seconds on most topologies; the"
                + " classic protocol may take up to fifty seconds, during which the ports forward nothing.";
        String question = "We bonded four 10G ports to our storage server with LACP, but a single large file copy"
                + " never goes above 10 Gbit/s, and last night, when one cable was pulled, the copy stalled for"
                + " almost a minute. Is the switch misconfigured, or is this expected? What should we change?";
        String json = "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"system\",\"content\":\"" + system
                + "\"},{\"role\":\"user\",\"content\":\"" + document + "\"},{\"role\":\"user\",\"content\":\""
                + question + "\"}],\"temperature\":0.2,\"max_tokens\":400}";
        return json.getBytes(StandardCharsets.UTF_8);
    }

    static int exchange(ProxyEngine engine, byte[] body, Blackhole bh) {
        ProxyRequest request = ProxyRequest.builder("POST", "/v1/chat/completions")
                .header("Content-Type", "application/json")
                .header("Accept", "application/json")
                .header("Content-Length", Integer.toString(body.length))
                .remoteAddress("127.0.0.1")
                .body(body)
                .build();
        ProxyResponse response = engine.handle(request).join();
        Drain drain = new Drain(bh);
        response.body().subscribe(drain);
        if (response.status() != 200 || !drain.done) {
            throw new IllegalStateException("status " + response.status());
        }
        return drain.bytes;
    }

    static UpstreamClient canned() {
        return new UpstreamClient() {
            private final HttpHeaders headers = new HeaderMap()
                    .set("content-type", "application/json")
                    .set("content-length", Integer.toString(ANSWER.length))
                    .build();

            @Override
            public CompletableFuture<UpstreamResponse> send(UpstreamRequest request) {
                return CompletableFuture.completedFuture(new UpstreamResponse(200, headers, Bodies.responseOf(ANSWER)));
            }

            @Override
            public void close() {}
        };
    }
}
