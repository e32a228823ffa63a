package io.github.openaiproxy.core.limits;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.github.openaiproxy.core.internal.Failures;
import io.lettuce.core.AbstractRedisClient;
import io.lettuce.core.ClientOptions;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisFuture;
import io.lettuce.core.RedisNoScriptException;
import io.lettuce.core.RedisURI;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.TimeoutOptions;
import io.lettuce.core.api.StatefulConnection;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.cluster.ClusterClientOptions;
import io.lettuce.core.cluster.ClusterTopologyRefreshOptions;
import io.lettuce.core.cluster.RedisClusterClient;
import io.lettuce.core.cluster.api.StatefulRedisClusterConnection;
import io.lettuce.core.cluster.api.async.RedisClusterAsyncCommands;
import io.lettuce.core.codec.StringCodec;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Limit counters in Redis through Lettuce (an optional dependency: only this class uses it). Every instance on
 * the same Redis counts in the same keys, so a limit is exact across instances.
 *
 * <p>A reservation is one round trip: one {@code EVALSHA} of a Lua script that reads every counter of the
 * reservation, checks every charge and makes them all or none, atomically (Redis runs a script alone). The
 * script is sent by its digest; a server that does not hold it yet ({@code NOSCRIPT}) gets it once with
 * {@code EVAL}. A settlement is one script call too, which gives back the request's lease in the same call when
 * it ends with the settlement ({@link #settle}); a lease given back alone is one {@code ZREM}. Nothing blocks a
 * thread: the commands are asynchronous, and a command without an answer within the timeout (default 2 s, {@code limits.store-timeout}), a
 * refused connection or a server error fails the future with {@link LimitStoreException}.
 *
 * <p>Keys: {@code openai-proxy:limits:{<tag>}:w}, one hash with every window counter of the subject (four fields
 * per counter: {@code <counter>:s}, {@code :e}, {@code :u}, {@code :w}, the window's start, end, amount used and
 * kind), so a reservation reads them all with one {@code HMGET} and writes them with one {@code HSET}; and {@code
 * openai-proxy:limits:{<tag>}:l:<counter>} (the leases held, a sorted set scored by expiry). The tag is a hash of
 * the subject: short and safe whatever the subject, and the same for all of one subject's keys, so Redis Cluster
 * puts them in one slot and accepts the multi-key script. The hash expires (PEXPIRE) a minute after the latest end
 * of its windows, a lease set a minute after its last lease expires; the windows themselves are decided by the
 * start stored beside each counter and the callers' clocks, so the instances' clocks must agree (NTP).
 *
 * <p>Amounts are compared in the script as Lua numbers (doubles): exact up to 2<sup>53</sup>, which is nine
 * million dollars in nano-dollars.
 */
public final class RedisLimitStore implements LimitStore {
    /** Where the keys begin. */
    public static final String PREFIX = "openai-proxy:limits:";

    /** How long a command may go unanswered before the future fails. */
    public static final Duration DEFAULT_TIMEOUT = LimitsConfig.DEFAULT_STORE_TIMEOUT;

    /** Keys live this much longer than their window: clocks of instances differ a little. */
    private static final long SLACK_MILLIS = 60_000;
    /** Amounts are Lua numbers in the script: kept at most this, so they stay exact integers. */
    private static final long MAX_EXACT = 1L << 53;

    private static final String SLACK_ARG = Long.toString(SLACK_MILLIS);
    private static final String MAX_EXACT_ARG = Long.toString(MAX_EXACT);

    /*
     * KEYS[1] is the subject's hash of window counters, KEYS[2..] its lease counters (one sorted set each, in the
     * order of the lease charges). ARGV: now, the lease id, the slack, then six per charge: the counter's field
     * prefix, limit, amount, two numbers (rolling: 0, and the end of a window beginning now; calendar:
     * the window's start and end; lease: the key's life, the maximum hold plus the slack, and the expiry of a
     * lease taken now) and the window's spec ('l' for a lease). A window counter is four fields of the hash:
     * <name>:s (start), :e (end), :u (used), :w (spec). The common case is one HMGET and one HSET for every window
     * counter together, and a PEXPIRE only when a window begins; a lease is ZRANGE, ZCARD, ZADD, PTTL, PEXPIRE.
     * A Lua number given to redis.call is printed with %.17g, slow enough to be most of the script's time: what
     * the caller can compute comes as a string, a start is stored and returned as the string it came as, and a
     * sum is printed with %d.
     */
    private static final Script RESERVE = new Script("""
            local now = tonumber(ARGV[1])
            local slack = tonumber(ARGV[3])
            local hash = KEYS[1]
            local n = (#ARGV - 3) / 6
            local fields = {}
            for i = 1, n do
              local o = 4 + (i - 1) * 6
              if ARGV[o + 5] ~= 'l' then
                local f, m = ARGV[o], #fields
                fields[m + 1] = f .. ':s'
                fields[m + 2] = f .. ':e'
                fields[m + 3] = f .. ':u'
                fields[m + 4] = f .. ':w'
              end
            end
            local h = {}
            if #fields > 0 then h = redis.call('HMGET', hash, unpack(fields)) end
            local used, start, reset, fresh, amounts, key = {}, {}, {}, {}, {}, {}
            local refused, v, l = 0, 0, 1
            for i = 1, n do
              local o = 4 + (i - 1) * 6
              local limit, amount, spec = tonumber(ARGV[o + 1]), tonumber(ARGV[o + 2]), ARGV[o + 5]
              local kind = string.byte(spec)
              amounts[i] = amount
              if kind == 108 then
                l = l + 1
                local k = KEYS[l]
                key[i] = k
                local first = tonumber(redis.call('ZRANGE', k, 0, 0, 'WITHSCORES')[2])
                if first and first <= now then
                  redis.call('ZREMRANGEBYSCORE', k, '-inf', now)
                  first = tonumber(redis.call('ZRANGE', k, 0, 0, 'WITHSCORES')[2])
                end
                if first then
                  used[i] = redis.call('ZCARD', k)
                  reset[i] = first
                else
                  used[i] = 0
                  reset[i] = now
                end
                start[i] = 0
              else
                local s, e, u, w = h[v + 1], h[v + 2], h[v + 3], h[v + 4]
                v = v + 4
                if kind == 114 then
                  e = w == spec and tonumber(e)
                  fresh[i] = not (e and now < e)
                  if fresh[i] then
                    start[i] = ARGV[1]
                    reset[i] = ARGV[o + 4]
                  else
                    start[i] = s
                    reset[i] = e
                  end
                else
                  fresh[i] = not (w == spec and s == ARGV[o + 3])
                  start[i] = ARGV[o + 3]
                  reset[i] = ARGV[o + 4]
                end
                if fresh[i] then used[i] = 0 else used[i] = tonumber(u) or 0 end
              end
              if refused == 0 and amount > limit - used[i] then refused = i end
            end
            if refused == 0 then
              local set, ttl = {}, 0
              for i = 1, n do
                local o = 4 + (i - 1) * 6
                local amount, spec = amounts[i], ARGV[o + 5]
                if spec == 'l' then
                  if amount > 0 then
                    local k, expiry = key[i], tonumber(ARGV[o + 4])
                    if redis.call('ZADD', k, ARGV[o + 4], ARGV[2]) == 1 then
                      used[i] = used[i] + 1
                      if used[i] == 1 or expiry < reset[i] then reset[i] = expiry end
                    else
                      reset[i] = tonumber(redis.call('ZRANGE', k, 0, 0, 'WITHSCORES')[2])
                    end
                    if redis.call('PTTL', k) < tonumber(ARGV[o + 3]) then redis.call('PEXPIRE', k, ARGV[o + 3]) end
                  end
                else
                  local f, m = ARGV[o], #set
                  used[i] = used[i] + amount
                  if fresh[i] then
                    set[m + 1] = f .. ':s'
                    set[m + 2] = start[i]
                    set[m + 3] = f .. ':e'
                    set[m + 4] = reset[i]
                    set[m + 5] = f .. ':u'
                    set[m + 6] = string.format('%d', used[i])
                    set[m + 7] = f .. ':w'
                    set[m + 8] = spec
                    local life = tonumber(reset[i]) - now + slack
                    if life > ttl then ttl = life end
                  elseif amount ~= 0 then
                    set[m + 1] = f .. ':u'
                    set[m + 2] = string.format('%d', used[i])
                  end
                end
              end
              if #set > 0 then redis.call('HSET', hash, unpack(set)) end
              if ttl > 0 and redis.call('PTTL', hash) < ttl then redis.call('PEXPIRE', hash, string.format('%d', ttl)) end
            end
            local out = {refused}
            for i = 1, n do
              out[#out + 1] = used[i]
              out[#out + 1] = start[i]
              out[#out + 1] = reset[i]
            end
            return out
            """);

    /*
     * KEYS[1] is the subject's hash of window counters, KEYS[2..] lease counters to give the lease ARGV[3] back to.
     * ARGV: now, the largest amount, the lease id, then four per adjustment: the counter's field prefix, the
     * window's start, the delta and the window's spec. One HMGET, one HSET, one ZREM per lease counter.
     */
    private static final Script SETTLE = new Script("""
            local now = tonumber(ARGV[1])
            local max = tonumber(ARGV[2])
            local hash = KEYS[1]
            local n = (#ARGV - 3) / 4
            if n > 0 then
              local fields = {}
              for i = 1, n do
                local f, m = ARGV[4 + (i - 1) * 4], #fields
                fields[m + 1] = f .. ':s'
                fields[m + 2] = f .. ':e'
                fields[m + 3] = f .. ':u'
                fields[m + 4] = f .. ':w'
              end
              local h = redis.call('HMGET', hash, unpack(fields))
              local set, sum = {}, {}
              for i = 1, n do
                local o, v = 4 + (i - 1) * 4, (i - 1) * 4
                local f = ARGV[o]
                if h[v + 4] == ARGV[o + 3] and h[v + 1] == ARGV[o + 1] and now < tonumber(h[v + 2]) then
                  local u = (sum[f] or tonumber(h[v + 3])) + tonumber(ARGV[o + 2])
                  if u < 0 then u = 0 end
                  if u > max then u = max end
                  sum[f] = u
                  set[#set + 1] = f .. ':u'
                  set[#set + 1] = string.format('%d', u)
                end
              end
              if #set > 0 then redis.call('HSET', hash, unpack(set)) end
            end
            for k = 2, #KEYS do
              redis.call('ZREM', KEYS[k], ARGV[3])
            end
            return 0
            """);

    /** At most this many subjects (and, apart, counter names and windows) are remembered, each at most this long. */
    private static final int MAX_CACHED = 4096;

    private static final int MAX_CACHED_KEY = 512;

    // SHA-256 of the subject, the plain-name check and the spec per request showed in profiles: kept instead.
    private final Cache<String, String> tags = bounded();
    private final Cache<String, String> fields = bounded();
    private final Cache<Window, String> specs = bounded();

    private final RedisClusterAsyncCommands<String, String> commands;
    private final StatefulConnection<String, String> ownedConnection;
    private final AbstractRedisClient ownedClient;
    /** Zero when the client is ours and Lettuce times commands out itself; otherwise the futures are timed here. */
    private final long timeoutMillis;

    private RedisLimitStore(
            RedisClusterAsyncCommands<String, String> commands,
            StatefulConnection<String, String> ownedConnection,
            AbstractRedisClient ownedClient,
            long timeoutMillis) {
        this.commands = commands;
        this.ownedConnection = ownedConnection;
        this.ownedClient = ownedClient;
        this.timeoutMillis = timeoutMillis;
    }

    /** {@link #connect(String, Duration)} with the default timeout ({@link #DEFAULT_TIMEOUT}). */
    public static RedisLimitStore connect(String uris) {
        return connect(uris, DEFAULT_TIMEOUT);
    }

    /**
     * Connects to Redis named by {@code uris}, with a client of its own (closed by {@link #close()}):
     *
     * <ul>
     *   <li>one server: {@code redis://[:password@]host[:port][/database]}, or {@code rediss://} for TLS;
     *   <li>Sentinel: {@code redis-sentinel://[:password@]host1[:port1][,host2[:port2]][/database]#masterName};
     *   <li>Cluster: several {@code redis://} (or {@code rediss://}) URIs of its nodes separated by commas, or
     *       one node's URI with the scheme {@code redis-cluster://} (or {@code rediss-cluster://}).
     * </ul>
     *
     * <p>While the connection is down, commands fail at once and Lettuce reconnects in the background.
     *
     * @throws LimitStoreException when the server cannot be reached now
     * @throws IllegalArgumentException when {@code uris} is not such a URI
     */
    public static RedisLimitStore connect(String uris, Duration timeout) {
        Objects.requireNonNull(uris, "uris");
        checkTimeout(timeout);
        String trimmed = uris.strip();
        String lower = trimmed.toLowerCase(Locale.ROOT);
        if (lower.startsWith("redis-cluster://") || lower.startsWith("rediss-cluster://")) {
            return cluster(List.of(trimmed.replaceFirst("(?i)-cluster://", "://")), timeout);
        }
        if (!lower.startsWith("redis-sentinel") && !lower.startsWith("rediss-sentinel") && trimmed.contains(",")) {
            List<String> nodes = new ArrayList<>();
            for (String part : trimmed.split(",")) {
                if (!part.isBlank()) {
                    nodes.add(part.strip());
                }
            }
            return cluster(nodes, timeout);
        }
        RedisURI uri = RedisURI.create(trimmed);
        uri.setTimeout(timeout);
        RedisClient client = RedisClient.create(uri);
        client.setOptions(ClientOptions.builder()
                .autoReconnect(true)
                .disconnectedBehavior(ClientOptions.DisconnectedBehavior.REJECT_COMMANDS)
                .timeoutOptions(TimeoutOptions.enabled(timeout))
                .build());
        try {
            StatefulRedisConnection<String, String> connection = client.connect(StringCodec.UTF8);
            return new RedisLimitStore(connection.async(), connection, client, 0);
        } catch (RuntimeException e) {
            client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
            throw new LimitStoreException("could not connect to Redis for the limit store", e);
        }
    }

    /** Connects to the Redis Cluster of which {@code nodes} are members (seeds: the others are discovered). */
    public static RedisLimitStore cluster(List<String> nodes, Duration timeout) {
        checkTimeout(timeout);
        if (nodes.isEmpty()) {
            throw new IllegalArgumentException("a Redis Cluster needs at least one node's URI");
        }
        List<RedisURI> uris = new ArrayList<>(nodes.size());
        for (String node : nodes) {
            RedisURI uri = RedisURI.create(node.contains("://") ? node : "redis://" + node);
            uri.setTimeout(timeout);
            uris.add(uri);
        }
        RedisClusterClient client = RedisClusterClient.create(uris);
        client.setOptions(ClusterClientOptions.builder()
                .autoReconnect(true)
                .disconnectedBehavior(ClientOptions.DisconnectedBehavior.REJECT_COMMANDS)
                .timeoutOptions(TimeoutOptions.enabled(timeout))
                .topologyRefreshOptions(ClusterTopologyRefreshOptions.builder()
                        .enableAllAdaptiveRefreshTriggers()
                        .build())
                .build());
        try {
            StatefulRedisClusterConnection<String, String> connection = client.connect(StringCodec.UTF8);
            return new RedisLimitStore(connection.async(), connection, client, 0);
        } catch (RuntimeException e) {
            client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
            throw new LimitStoreException("could not connect to the Redis Cluster for the limit store", e);
        }
    }

    /** {@link #using(AbstractRedisClient, Duration)} with the default timeout ({@link #DEFAULT_TIMEOUT}). */
    public static RedisLimitStore using(AbstractRedisClient client) {
        return using(client, DEFAULT_TIMEOUT);
    }

    /**
     * A store on the application's client (for example the native client of Spring's {@code
     * LettuceConnectionFactory}): a {@link RedisClient} (standalone or Sentinel) or a {@link RedisClusterClient}.
     * The store opens a connection of its own on it, which {@link #close()} closes; the client stays the
     * application's. Commands without an answer within {@code timeout} fail the future.
     */
    public static RedisLimitStore using(AbstractRedisClient client, Duration timeout) {
        Objects.requireNonNull(client, "client");
        checkTimeout(timeout);
        try {
            if (client instanceof RedisClusterClient cluster) {
                StatefulRedisClusterConnection<String, String> c = cluster.connect(StringCodec.UTF8);
                return new RedisLimitStore(c.async(), c, null, timeout.toMillis());
            }
            if (client instanceof RedisClient standalone) {
                StatefulRedisConnection<String, String> c = standalone.connect(StringCodec.UTF8);
                return new RedisLimitStore(c.async(), c, null, timeout.toMillis());
            }
        } catch (RuntimeException e) {
            throw new LimitStoreException("could not connect to Redis for the limit store", e);
        }
        throw new IllegalArgumentException("not a RedisClient or RedisClusterClient: " + client.getClass());
    }

    /** A store on the application's connection, which it never closes. */
    public static RedisLimitStore using(StatefulRedisConnection<String, String> connection, Duration timeout) {
        checkTimeout(timeout);
        return new RedisLimitStore(connection.async(), null, null, timeout.toMillis());
    }

    /** A store on the application's Redis Cluster connection, which it never closes. */
    public static RedisLimitStore using(StatefulRedisClusterConnection<String, String> connection, Duration timeout) {
        checkTimeout(timeout);
        return new RedisLimitStore(connection.async(), null, null, timeout.toMillis());
    }

    private static void checkTimeout(Duration timeout) {
        if (timeout == null || timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("timeout must be positive: " + timeout);
        }
    }

    @Override
    public CompletableFuture<Admission> reserve(Reservation reservation) {
        List<Charge> charges = reservation.charges();
        int n = charges.size();
        if (n == 0) {
            return CompletableFuture.completedFuture(new Admission(true, -1, List.of()));
        }
        long now = reservation.nowMillis();
        String tag = tag(reservation.subject());
        int leases = 0;
        for (Charge c : charges) {
            if (c.counter().window() instanceof Window.Lease) {
                leases++;
            }
        }
        String[] keys = new String[1 + leases];
        keys[0] = windowsKey(tag);
        String[] args = new String[3 + 6 * n];
        args[0] = Long.toString(now);
        args[1] = LimitKeys.lease(reservation.leaseId());
        args[2] = SLACK_ARG;
        for (int i = 0, l = 1; i < n; i++) {
            Charge c = charges.get(i);
            Window w = c.counter().window();
            int o = 3 + 6 * i;
            args[o] = field(c.counter().name());
            args[o + 1] = Long.toString(Math.min(c.counter().limit(), MAX_EXACT));
            args[o + 2] = Long.toString(c.amount());
            args[o + 5] = spec(w);
            if (w instanceof Window.Rolling r) {
                args[o + 3] = "0";
                args[o + 4] = Long.toString(now + r.length().toMillis());
            } else if (w instanceof Window.Calendar cal) {
                args[o + 3] = Long.toString(cal.period().startOf(now));
                args[o + 4] = Long.toString(cal.period().nextAfter(now));
            } else {
                keys[l++] = leaseKey(tag, args[o]);
                long hold = ((Window.Lease) w).maxHold().toMillis();
                args[o + 3] = Long.toString(hold + SLACK_MILLIS);
                args[o + 4] = Long.toString(now + hold);
            }
        }
        return this.<List<Object>>script(RESERVE, ScriptOutputType.MULTI, keys, args)
                .thenApply(RedisLimitStore::admission);
    }

    private static Admission admission(List<Object> reply) {
        int refused = (int) number(reply.get(0)) - 1;
        int n = (reply.size() - 1) / 3;
        List<Admission.CounterState> states = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            states.add(new Admission.CounterState(
                    number(reply.get(1 + 3 * i)), number(reply.get(2 + 3 * i)), number(reply.get(3 + 3 * i))));
        }
        return new Admission(refused < 0, refused, states);
    }

    /** A number of the script's answer: an integer, or a window's start or end as the string stored. */
    private static long number(Object o) {
        return o instanceof Long l ? l : Long.parseLong((String) o);
    }

    @Override
    public CompletableFuture<Void> adjust(String subject, List<Adjustment> adjustments, long nowMillis) {
        return settle(subject, adjustments, null, null, nowMillis);
    }

    /** One script: the adjustments and the lease's {@code ZREM} together. */
    @Override
    public CompletableFuture<Void> settle(
            String subject, List<Adjustment> adjustments, Counter leaseCounter, String leaseId, long nowMillis) {
        int n = 0;
        for (Adjustment a : adjustments) {
            if (!(a.counter().window() instanceof Window.Lease) && a.delta() != 0) {
                n++;
            }
        }
        boolean lease = leaseCounter != null && leaseCounter.window() instanceof Window.Lease;
        if (n == 0) {
            return lease ? release(subject, leaseCounter, leaseId) : CompletableFuture.completedFuture(null);
        }
        String tag = tag(subject);
        String[] keys = new String[lease ? 2 : 1];
        keys[0] = windowsKey(tag);
        if (lease) {
            keys[1] = leaseKey(tag, field(leaseCounter.name()));
        }
        String[] args = new String[3 + 4 * n];
        args[0] = Long.toString(nowMillis);
        args[1] = MAX_EXACT_ARG;
        args[2] = LimitKeys.lease(leaseId);
        int o = 3;
        for (Adjustment a : adjustments) {
            if (!(a.counter().window() instanceof Window.Lease) && a.delta() != 0) {
                args[o] = field(a.counter().name());
                args[o + 1] = Long.toString(a.windowStartMillis());
                args[o + 2] = Long.toString(Math.max(-MAX_EXACT, Math.min(MAX_EXACT, a.delta())));
                args[o + 3] = spec(a.counter().window());
                o += 4;
            }
        }
        return this.<Long>script(SETTLE, ScriptOutputType.INTEGER, keys, args).thenApply(ignored -> null);
    }

    @Override
    public CompletableFuture<Void> release(String subject, Counter counter, String leaseId) {
        RedisFuture<Long> removed; // timed through a copy: the timeout cancels the command, not completes it
        try {
            removed = commands.zrem(leaseKey(tag(subject), field(counter.name())), LimitKeys.lease(leaseId));
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(failure(e));
        }
        return timed(removed.toCompletableFuture().thenApply(ignored -> null), new Future<?>[] {removed});
    }

    @Override
    public String kind() {
        return "redis";
    }

    /** Closes the connection and the client the store opened; an application's own stay open. */
    @Override
    public void close() {
        if (ownedConnection != null) {
            ownedConnection.close();
        }
        if (ownedClient != null) {
            ownedClient.shutdown(Duration.ZERO, Duration.ofSeconds(2));
        }
    }

    /** The subject's hash tag: 128 bits of its SHA-256, in braces; remembered for the subjects seen lately. */
    private String tag(String subject) {
        return subject.length() > MAX_CACHED_KEY ? newTag(subject) : tags.get(subject, RedisLimitStore::newTag);
    }

    private static String newTag(String subject) {
        return "{" + LimitKeys.subject(subject).substring(0, 32) + "}";
    }

    /** A counter's name as the keys and fields hold it ({@link LimitKeys#counter}), remembered. */
    private String field(String name) {
        return name.length() > MAX_CACHED_KEY ? LimitKeys.counter(name) : fields.get(name, LimitKeys::counter);
    }

    /** A window's spec ({@link LimitKeys#spec}), remembered (a rolling window's is built). */
    private String spec(Window window) {
        return window instanceof Window.Rolling ? specs.get(window, LimitKeys::spec) : LimitKeys.spec(window);
    }

    /** A bounded cache, evicting on the caller's thread (anonymous callers come and go). */
    private static <K> Cache<K, String> bounded() {
        return Caffeine.newBuilder()
                .maximumSize(MAX_CACHED)
                .executor(Runnable::run)
                .build();
    }

    /** The hash of all the subject's window counters. */
    private static String windowsKey(String tag) {
        return PREFIX + tag + ":w";
    }

    /** The sorted set of the leases held on one lease counter (its name as {@link LimitKeys#counter} gives it). */
    private static String leaseKey(String tag, String counter) {
        return PREFIX + tag + ":l:" + counter;
    }

    /** EVALSHA, and EVAL when the server does not hold the script (a restart, a failover, SCRIPT FLUSH). */
    private <T> CompletableFuture<T> script(Script script, ScriptOutputType type, String[] keys, String[] args) {
        CompletableFuture<T> answer = new CompletableFuture<>();
        // The command in flight: cancelled when the caller stops waiting (see timed).
        RedisFuture<?>[] command = new RedisFuture<?>[1];
        try {
            RedisFuture<T> bySha = commands.evalsha(script.sha, type, keys, args);
            command[0] = bySha;
            bySha.whenComplete((v, e) -> {
                if (e == null) {
                    answer.complete(v);
                } else if (noScript(e)) {
                    try {
                        RedisFuture<T> byText = commands.eval(script.text, type, keys, args);
                        command[0] = byText;
                        byText.whenComplete((v2, e2) -> {
                            if (e2 == null) {
                                answer.complete(v2);
                            } else {
                                answer.completeExceptionally(failure(e2));
                            }
                        });
                    } catch (RuntimeException thrown) {
                        answer.completeExceptionally(failure(thrown));
                    }
                } else {
                    answer.completeExceptionally(failure(e));
                }
            });
        } catch (RuntimeException e) {
            answer.completeExceptionally(failure(e));
        }
        return timed(answer, command);
    }

    /**
     * Fails the future with a {@link LimitStoreException}. With an application's client the timeout is applied
     * here (a client of the store's own times commands out itself), and a command the caller no longer waits
     * for is cancelled: a client that queues commands while disconnected must not charge, once reconnected, a
     * reservation whose caller was told it failed.
     */
    private <T> CompletableFuture<T> timed(CompletableFuture<T> future, Future<?>[] command) {
        CompletableFuture<T> waited =
                timeoutMillis == 0 ? future : future.orTimeout(timeoutMillis, TimeUnit.MILLISECONDS);
        return waited.handle((v, e) -> {
            if (e != null) {
                Future<?> inFlight = command[0];
                if (inFlight != null) {
                    inFlight.cancel(false);
                }
                throw failure(e);
            }
            return v;
        });
    }

    private static boolean noScript(Throwable e) {
        Throwable cause = Failures.unwrap(e);
        return cause instanceof RedisNoScriptException
                || (cause.getMessage() != null && cause.getMessage().startsWith("NOSCRIPT"));
    }

    private static LimitStoreException failure(Throwable e) {
        Throwable cause = Failures.unwrap(e);
        if (cause instanceof LimitStoreException l) {
            return l;
        }
        if (cause instanceof TimeoutException) {
            return new LimitStoreException("Redis did not answer the limit store in time", cause);
        }
        return new LimitStoreException(
                "the Redis limit store failed: " + cause.getClass().getSimpleName(), cause);
    }

    /** A Lua script and its SHA-1 digest, the name Redis knows it by. */
    private static final class Script {
        final String text;
        final String sha;

        Script(String text) {
            this.text = text;
            try {
                this.sha = HexFormat.of()
                        .formatHex(MessageDigest.getInstance("SHA-1").digest(text.getBytes(StandardCharsets.UTF_8)));
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException("SHA-1 is missing", e);
            }
        }
    }
}
