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
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
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
 * thread: the commands are asynchronous, and a command without an answer within the timeout (default 2 s,
 * {@code limits.store-timeout}), a refused connection or a server error fails the future with
 * {@link LimitStoreException}.
 *
 * <p>Keys: {@code openai-proxy:limits:{<tag>}:w}, one hash with every window counter of the subject (two fields
 * per counter: {@code <counter>:<spec>}, the amount used, and {@code <counter>:<spec>:e}, the window's end; the
 * spec names the window, {@code r<length in ms>}, {@code d} or {@code m}), so a reservation reads them all with
 * one {@code HMGET} and writes them with one {@code HSET}; and {@code
 * openai-proxy:limits:{<tag>}:l:<counter>} (the leases held, a sorted set scored by expiry); and {@code
 * openai-proxy:limits:{<tag>}:s:<settlement>}, the counters a named settlement ({@link Adjustment#settlementId})
 * adjusted (a string, each name between NUL bytes), so that a settlement sent again after its answer was lost counts once; {@code
 * openai-proxy:limits:{<tag>}:r:<reservation>}, a named reservation ({@link Reservation#reservationId}) made, kept a
 * minute longer than the timeout, so that one the client sends again after a broken connection is made once (an
 * application's Lettuce client sends the commands in flight again once reconnected); {@code
 * openai-proxy:limits:{<tag>}:c:<charge>}, a charge counted ({@link #count}: the backlog of what was used while Redis
 * did not answer, which sends a charge again when its answer was lost), kept ten minutes. The tag is a hash of
 * the subject: short and safe whatever the subject, and the same for all of one subject's keys, so Redis Cluster
 * puts them in one slot and accepts the multi-key script. The hash expires (PEXPIRE) a minute after the latest end
 * of its windows, a lease set a minute after its last lease expires; the windows themselves are decided by the
 * end stored beside each counter and the callers' clocks, so the instances' clocks must agree (NTP).
 *
 * <p>Amounts are compared in the script as Lua numbers (doubles): exact up to 2<sup>53</sup>, which is nine
 * million dollars in nano-dollars.
 */
public final class RedisLimitStore implements LimitStore {
    /** Where the keys begin. */
    public static final String PREFIX = "openai-proxy:limits:";

    private static final System.Logger LOG = System.getLogger(RedisLimitStore.class.getName());

    /** How long a command may go unanswered before the future fails. */
    public static final Duration DEFAULT_TIMEOUT = LimitsConfig.DEFAULT_STORE_TIMEOUT;

    /** Keys live this much longer than their window: clocks of instances differ a little. */
    private static final long SLACK_MILLIS = 60_000;
    /**
     * A settlement's marker lives as long as the window it adjusted, at most this (plus the slack). It is one key of
     * about 300 bytes per settled request, so its life is what it costs: 100 requests a second hold about 20 MB for
     * ten minutes, where a day's budget would hold 2.6 GB. A replay comes from an instance's backlog once Redis
     * answers again (seconds, usually); one later than this (Redis unreachable for over ten minutes right after it
     * applied the settlement) may count twice.
     */
    private static final long MAX_SETTLED_MILLIS = Duration.ofMinutes(10).toMillis();

    /** Amounts are Lua numbers in the script: kept at most this, so they stay exact integers. */
    private static final long MAX_EXACT = 1L << 53;

    /*
     * Every key and argument is ASCII (hashes, plain names, numbers; LimitKeys sees to it), and Lettuce writes an
     * ASCII string straight into the command's buffer, where UTF-8 goes through a pooled buffer per argument
     * (half the event loop's time with seven rules).
     */
    private static final StringCodec CODEC = StringCodec.ASCII;

    private static final String SLACK_ARG = Long.toString(SLACK_MILLIS);

    /** The kinds of a calendar charge: 'c' and the generation (1 to 999) a window it makes gets. */
    private static final String[] GENERATIONS = new String[999];

    static {
        for (int g = 1; g <= 999; g++) {
            GENERATIONS[g - 1] = "c" + g;
        }
    }

    private static final String MAX_EXACT_ARG = Long.toString(MAX_EXACT);

    /*
     * KEYS[1] is the subject's hash of window counters, KEYS[2..] its lease counters (one sorted set each, in the
     * order of the lease charges), then the reservation's marker when it is named. ARGV: now, the lease id, the
     * slack, the index of the marker (0 for none), its life, then six per charge. A marker present means the
     * reservation was made already (the client sent the command again after its connection broke before the
     * reply): the answer is the counters as they are, charged nothing more. A window counter is two
     * fields of the hash, its amount used and its window's end, named after the counter and its window's spec (so
     * a changed window is a new counter): the two field names, the limit, the amount, the end of a window beginning
     * now, and 'r' (rolling) or 'c' (calendar) followed by the generation a calendar window made now gets, ':' and the
     * end of the window after it (a later window is joined up to that one only). A lease:
     * '-', the key's life (the maximum hold plus the slack),
     * the limit, the amount, the expiry of a lease taken now, and 'l'. A rolling window is current while now is
     * before its end; a calendar window while its end is the one the caller names or a later one (an instance whose
     * clock is a little behind another's counts in the day the other began). A calendar window keeps its
     * generation in a third field (1 to 999, drawn by the instance that made it): its end is the same after Redis lost
     * the keys, and a settlement of a reservation made before that must not count in the window made again. The
     * answer: the index of a refused charge (0 for none), then per charge the amount used and the window's end (a
     * lease's earliest expiry; a calendar window's plus its generation); the caller works the window's start out of
     * them.
     * The common case is one HMGET and one HSET for every window counter together, and a PEXPIRE only when a
     * window begins; a lease is ZRANGE, ZADD, PEXPIRE (ZCARD and PTTL when others are held). Every redis.call and every
     * string built costs (a seven-rule reservation measured 26 us of Redis's time with four fields per counter,
     * 17 us with two); a Lua number given to redis.call is printed with %.17g, so what the caller can compute
     * comes as a string and a sum is printed with %d.
     */
    private static final Script RESERVE = new Script("""
            local now = tonumber(ARGV[1])
            local hash = KEYS[1]
            local n = (#ARGV - 5) / 6
            local mk = tonumber(ARGV[4])
            local copy = mk > 0 and redis.call('EXISTS', KEYS[mk]) == 1
            local fields, m, gf = {}, 0, {}
            for o = 6, #ARGV, 6 do
              if ARGV[o + 5] ~= 'l' then
                fields[m + 1] = ARGV[o]
                fields[m + 2] = ARGV[o + 1]
                m = m + 2
              end
            end
            for o = 6, #ARGV, 6 do
              if string.byte(ARGV[o + 5]) == 99 then
                m = m + 1
                fields[m] = ARGV[o] .. ':g'
                gf[o] = m
              end
            end
            local h = {}
            if m > 0 then h = redis.call('HMGET', hash, unpack(fields)) end
            local used, reset, fresh, key, gen = {}, {}, {}, {}, {}
            local refused, v, l = 0, 0, 1
            for i = 1, n do
              local o = 6 + (i - 1) * 6
              local kind = ARGV[o + 5]
              if kind == 'l' then
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
              else
                local u, e = h[v + 1], h[v + 2]
                v = v + 2
                if kind == 'r' then
                  fresh[i] = not (e and now < tonumber(e))
                else
                  -- never back to an earlier window: an instance whose clock is behind counts in the one begun;
                  -- but only in the next one (ending at or before nx), not one a broken clock began further on
                  local g, nx = string.match(kind, '^c(%d*):?(%d*)$')
                  fresh[i] = not e or tonumber(e) < tonumber(ARGV[o + 4]) or (nx ~= '' and tonumber(e) > tonumber(nx))
                  gen[i] = fresh[i] and g or h[gf[o]] or ''
                end
                if fresh[i] then
                  used[i] = 0
                  reset[i] = ARGV[o + 4]
                else
                  used[i] = tonumber(u) or 0
                  reset[i] = e
                end
              end
              if not copy and refused == 0 and tonumber(ARGV[o + 3]) > tonumber(ARGV[o + 2]) - used[i] then
                refused = i
              end
            end
            if refused == 0 and not copy then
              if mk > 0 then redis.call('SET', KEYS[mk], '1', 'PX', ARGV[5]) end
              local set, ttl = {}, 0
              for i = 1, n do
                local o = 6 + (i - 1) * 6
                local amount = tonumber(ARGV[o + 3])
                if ARGV[o + 5] == 'l' then
                  if amount > 0 then
                    local k = key[i]
                    if redis.call('ZADD', k, ARGV[o + 4], ARGV[2]) == 1 then
                      used[i] = used[i] + 1
                      local expiry = tonumber(ARGV[o + 4])
                      if used[i] == 1 or expiry < reset[i] then reset[i] = expiry end
                    else
                      reset[i] = tonumber(redis.call('ZRANGE', k, 0, 0, 'WITHSCORES')[2])
                    end
                    -- the only lease decides the key's life; beside others it never shortens it (one of a
                    -- longer hold, from an instance with a longer lease timeout, would be forgotten while held)
                    local life = ARGV[o + 1]
                    if used[i] == 1 or redis.call('PTTL', k) < tonumber(life) then redis.call('PEXPIRE', k, life) end
                  end
                elseif fresh[i] or amount ~= 0 then
                  local m = #set
                  used[i] = used[i] + amount
                  set[m + 1] = ARGV[o]
                  set[m + 2] = string.format('%d', used[i])
                  if fresh[i] then
                    set[m + 3] = ARGV[o + 1]
                    set[m + 4] = reset[i]
                    if gen[i] then
                      set[#set + 1] = ARGV[o] .. ':g'
                      set[#set + 1] = gen[i] == '' and '0' or gen[i]
                    end
                    local life = tonumber(reset[i]) - now
                    if life > ttl then ttl = life end
                  end
                end
              end
              if #set > 0 then redis.call('HSET', hash, unpack(set)) end
              if ttl > 0 then
                ttl = ttl + tonumber(ARGV[3])
                if redis.call('PTTL', hash) < ttl then redis.call('PEXPIRE', hash, string.format('%d', ttl)) end
              end
            end
            local out = {refused}
            for i = 1, n do
              out[2 * i] = used[i]
              out[2 * i + 1] = reset[i]
              local g = tonumber(gen[i])
              if g and g > 0 then out[2 * i + 1] = string.format('%d', tonumber(reset[i]) + g) end
            end
            return out
            """);

    /*
     * KEYS[1] is the subject's hash of window counters, KEYS[2..ARGV[4] - 1] lease counters to give the lease ARGV[3]
     * back to, KEYS[ARGV[4]..] the settlements' markers. ARGV: now, the largest amount, the lease id, the index of the
     * first marker, then seven per adjustment: the counter's two field names, the end of the window to adjust, the
     * delta, the index of its settlement's marker (0 for none), the marker's life and the calendar window's generation
     * ('0' for none: a rolling window's end tells its windows apart already). A marker is a string naming the
     * counters its settlement adjusted, each between NUL bytes: an adjustment already in it was applied (its answer
     * lost, the caller sent it again) and is not applied twice. One HMGET, one HSET, a GET and a SET per marker, one
     * ZREM per lease counter.
     */
    private static final Script SETTLE = new Script("""
            local now = tonumber(ARGV[1])
            local max = tonumber(ARGV[2])
            local hash = KEYS[1]
            local markers = tonumber(ARGV[4])
            if #ARGV > 4 then
              local fields, m, gf = {}, 0, {}
              for o = 5, #ARGV, 7 do
                fields[m + 1] = ARGV[o]
                fields[m + 2] = ARGV[o + 1]
                m = m + 2
              end
              for o = 5, #ARGV, 7 do
                if ARGV[o + 6] ~= '0' then
                  m = m + 1
                  fields[m] = ARGV[o] .. ':g'
                  gf[o] = m
                end
              end
              local h = redis.call('HMGET', hash, unpack(fields))
              local set, sum, v, seen, fresh, life = {}, {}, 0, {}, {}, {}
              for o = 5, #ARGV, 7 do
                local f, e = ARGV[o], h[v + 2]
                if e == ARGV[o + 2] and now < tonumber(e) and (not gf[o] or h[gf[o]] == ARGV[o + 6]) then
                  local first, mk = true, tonumber(ARGV[o + 4])
                  if mk > 0 then
                    if seen[mk] == nil then
                      local got = redis.call('GET', KEYS[mk])
                      fresh[mk] = not got
                      seen[mk] = got or ''
                    end
                    local named = '\0' .. f .. '\0'
                    first = not string.find(seen[mk], named, 1, true)
                    if first then
                      seen[mk] = seen[mk] .. named
                      local l = tonumber(ARGV[o + 5])
                      if (life[mk] or 0) < l then life[mk] = l end
                    end
                  end
                  if first then
                    local u = (sum[f] or tonumber(h[v + 1]) or 0) + tonumber(ARGV[o + 3])
                    if u < 0 then u = 0 end
                    if u > max then u = max end
                    sum[f] = u
                    set[#set + 1] = f
                    set[#set + 1] = string.format('%d', u)
                  end
                end
                v = v + 2
              end
              if #set > 0 then redis.call('HSET', hash, unpack(set)) end
              -- One write a marker: the counters it names, for the longest life they need, never shortened (a new
              -- marker, the usual case, needs no PTTL).
              for mk, l in pairs(life) do
                if not fresh[mk] then
                  local left = redis.call('PTTL', KEYS[mk])
                  if left > l then l = left end
                end
                redis.call('SET', KEYS[mk], seen[mk], 'PX', l)
              end
            end
            for k = 2, markers - 1 do
              redis.call('ZREM', KEYS[k], ARGV[3])
            end
            return 0
            """);

    /** At most this many subjects (and, apart, counter names and windows) are remembered, each at most this long. */
    private static final int MAX_CACHED = 4096;

    private static final int MAX_CACHED_KEY = 512;

    // SHA-256 of the subject, the plain-name check and the field names per request showed in profiles: kept instead.
    private final Cache<String, String> tags = bounded();
    private final Cache<String, String> names = bounded();
    private final Cache<Counter, Fields> counterFields = bounded();

    /** The connection's commands; {@code null} until the store has connected (it may start with Redis down). */
    private volatile RedisClusterAsyncCommands<String, String> commands;
    /** The connection the store opened, closed by {@link #close()}; {@code null} for an application's own. */
    private volatile StatefulConnection<String, String> ownedConnection;

    private final AbstractRedisClient ownedClient;
    /** How long a reservation's marker lives, in ms ({@link Reservation#reservationId}). */
    private final String reservedLife;

    /** {@code null} when the client is ours and Lettuce times commands out itself; else the futures are timed here. */
    private final StoreDeadlines deadlines;

    /** Opens the store's connection (blocking); {@code null} when the store was handed a connection. */
    private final Connector connector;
    /** The client's resources: their reconnect delay spaces the attempts made while Redis was down at start. */
    private final io.lettuce.core.resource.ClientResources resources;
    /** Which Redis, its URL's password masked: for the log lines. */
    private final String where;

    private final Object lock = new Object();
    /** The one thread that connects while Redis has not answered since start; {@code null} otherwise. */
    private java.util.concurrent.ScheduledExecutorService connecting;

    private boolean closed;
    /** Whether the server's refusal of a background attempt was logged (only the connecting thread reads it). */
    private boolean refusedLogged;

    /** Opens the store's connection on a client: its async commands and the connection to close. */
    @FunctionalInterface
    private interface Connector {
        Connected connect();
    }

    /** A connection the store opened and its commands. */
    private record Connected(
            StatefulConnection<String, String> connection, RedisClusterAsyncCommands<String, String> commands) {}

    private RedisLimitStore(
            Connected connected,
            Connector connector,
            AbstractRedisClient client,
            boolean ownsClient,
            Duration timeout,
            boolean timedHere,
            String where) {
        this.connector = connector;
        this.ownedClient = ownsClient ? client : null;
        this.resources = client == null ? null : client.getResources();
        this.where = where;
        this.deadlines = timedHere ? new StoreDeadlines(timeout) : null;
        // A client sends a command again only while its caller waits for the answer: at most the timeout.
        this.reservedLife = Long.toString(timeout.toMillis() + SLACK_MILLIS);
        if (connected != null) {
            this.commands = connected.commands();
            checkEvictionPolicy();
        }
    }

    /**
     * A store that connects now through {@code connector}, or, when Redis cannot be reached, starts without it and
     * connects in the background: until then every call fails at once, as while Redis is down later, and the
     * requests get what {@code limits.*-when-down} say. A server that answers but refuses the connection (a wrong
     * password, a database it does not have) is a misconfiguration, not an outage: that throws.
     */
    private static RedisLimitStore open(
            Connector connector,
            AbstractRedisClient client,
            boolean ownsClient,
            Duration timeout,
            boolean timedHere,
            List<String> uris) {
        String where =
                uris.get(0).contains("://") ? "Redis at " + withoutPasswords(String.join(",", uris)) : uris.get(0);
        Connected connected;
        try {
            connected = connector.connect();
        } catch (RuntimeException e) {
            if (misconfigured(e)) {
                if (ownsClient) {
                    client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
                }
                throw connectFailed(
                        "Redis refused the limit store's connection (" + redact(refusal(e), uris) + "): "
                                + whatToCheck(ownsClient),
                        e,
                        uris);
            }
            RedisLimitStore store = new RedisLimitStore(null, connector, client, ownsClient, timeout, timedHere, where);
            LOG.log(
                    System.Logger.Level.WARNING,
                    "Redis limit store: {0} cannot be reached ({1}); starting without it, connecting in the"
                            + " background: until it answers, requests get what limits.rate-limits-when-down and"
                            + " limits.budgets-when-down say",
                    where,
                    redact(said(e), uris));
            store.retry(1, uris);
            return store;
        }
        RedisLimitStore store =
                new RedisLimitStore(connected, connector, client, ownsClient, timeout, timedHere, where);
        store.ownedConnection = connected.connection();
        return store;
    }

    /** Tries again after Lettuce's reconnect delay for attempt {@code attempt}, on the store's connecting thread. */
    private void retry(long attempt, List<String> uris) {
        synchronized (lock) {
            if (closed) {
                return;
            }
            if (connecting == null) {
                connecting = java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
                    Thread t = new Thread(r, "openai-proxy-redis-limit-store-connect");
                    t.setDaemon(true);
                    return t;
                });
            }
            long delay = resources.reconnectDelay().createDelay(attempt).toMillis();
            connecting.schedule(() -> attempt(attempt, uris), delay, java.util.concurrent.TimeUnit.MILLISECONDS);
        }
    }

    private void attempt(long attempt, List<String> uris) {
        Connected connected;
        try {
            connected = connector.connect();
        } catch (RuntimeException e) {
            if (misconfigured(e) && !refusedLogged) {
                refusedLogged = true; // once: the attempts go on, every 30 s at most
                LOG.log(
                        System.Logger.Level.ERROR,
                        "Redis limit store: {0} refuses the connection ({1}): {2}",
                        where,
                        redact(said(e), uris),
                        whatToCheck(ownedClient != null));
            }
            retry(attempt + 1, uris);
            return;
        }
        synchronized (lock) {
            if (closed) {
                connected.connection().closeAsync();
                return;
            }
            ownedConnection = connected.connection();
            commands = connected.commands();
            connecting.shutdown(); // this task is its last
            connecting = null;
        }
        LOG.log(System.Logger.Level.INFO, "Redis limit store: connected to {0}", where);
        checkEvictionPolicy();
    }

    /**
     * Whether the server answered the connection's handshake with an error that waiting will not mend: a wrong
     * password ({@code WRONGPASS}, {@code NOAUTH}), a database it does not have. A server still loading its data or
     * a Cluster not yet formed ({@code LOADING}, {@code BUSY}, {@code MASTERDOWN}, {@code TRYAGAIN}, {@code
     * CLUSTERDOWN}) is down, not misconfigured.
     */
    private static boolean misconfigured(Throwable error) {
        return refusal(error) != null;
    }

    /**
     * What to check when Redis refuses the connection: the URL the store was given, or, for a client the application
     * handed it ({@link #using(AbstractRedisClient, Duration)}), that client's settings, which are not the URL's.
     */
    private static String whatToCheck(boolean ownsClient) {
        return ownsClient
                ? "check limits.redis-url"
                : "check the application's Redis client (its password, user and database)";
    }

    /**
     * The server's reply that refused the connection ({@code WRONGPASS ...}, {@code NOAUTH ...}), or {@code null}
     * when {@code error} is no such refusal ({@link #misconfigured}). A Cluster client wraps it in a suppressed
     * exception of a generic "Unable to establish a connection": the reply says what is wrong.
     */
    private static String refusal(Throwable error) {
        java.util.ArrayDeque<Throwable> todo = new java.util.ArrayDeque<>(List.of(error));
        java.util.Set<Throwable> seen = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        while (!todo.isEmpty()) {
            Throwable t = todo.poll();
            if (!seen.add(t)) {
                continue;
            }
            if (t instanceof io.lettuce.core.RedisCommandExecutionException) {
                String m = t.getMessage() == null ? "" : t.getMessage();
                if (!m.matches("(?s)(LOADING|BUSY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN)\\b.*")) {
                    String reply = m.strip();
                    return reply.isEmpty()
                            ? "an error without a message"
                            : reply.length() > 200 ? reply.substring(0, 200) + "..." : reply;
                }
            }
            if (t.getCause() != null) {
                todo.add(t.getCause());
            }
            todo.addAll(List.of(t.getSuppressed()));
        }
        return null;
    }

    /**
     * {@code uris} (one Redis URI, or several separated by commas) with every user-info part ({@code user:password@})
     * replaced by {@code ***@}: how the store and the adapters name a Redis in messages.
     */
    public static String withoutPasswords(String uris) {
        return uris.replaceAll("(?<=://)[^@/,]*@", "***@");
    }

    /** Every message of {@code error}'s chain. */
    private static String said(Throwable error) {
        StringBuilder said = new StringBuilder();
        for (Throwable t = error; t != null; t = t.getCause()) {
            said.append(said.isEmpty() ? "" : "; ").append(t);
        }
        return said.toString();
    }

    /**
     * Asks the server (once, without waiting for it) whether it may evict keys: under any {@code maxmemory-policy} but
     * {@code noeviction} a full Redis drops limit counters, and those limits silently start again from zero. A
     * warning, not a refusal to start: the policy is an operator's, often a managed service's default, and limits
     * that may reset are better than none. A server that refuses {@code CONFIG} (managed services often do) gets an
     * info line instead. In a Cluster the node the client picks answers.
     */
    private void checkEvictionPolicy() {
        CompletableFuture<Map<String, String>> asked;
        try {
            asked = commands.configGet("maxmemory-policy").toCompletableFuture();
        } catch (RuntimeException e) {
            asked = CompletableFuture.failedFuture(e);
        }
        asked.whenComplete((config, e) -> {
            String policy = config == null ? null : config.get("maxmemory-policy");
            if (e != null || policy == null) {
                LOG.log(
                        System.Logger.Level.INFO,
                        "Redis limit store: could not read the server''s maxmemory-policy ({0}); limits need"
                                + " noeviction (README, Where limits are counted, Redis''s memory)",
                        e == null ? "not answered" : Failures.unwrap(e).toString());
            } else if (!policy.equalsIgnoreCase("noeviction")) {
                LOG.log(
                        System.Logger.Level.WARNING,
                        "Redis limit store: the server''s maxmemory-policy is {0}, not noeviction: a full Redis evicts"
                                + " limit counters and those limits start again from zero, passing more than they"
                                + " allow. Set maxmemory-policy noeviction (README, Where limits are counted, Redis''s"
                                + " memory)",
                        policy);
            }
        });
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
     * <p>While the connection is down, commands fail at once and Lettuce reconnects in the background. A Redis that
     * cannot be reached now does not stop the start: the store logs a warning, fails every call at once (the requests
     * get what {@code limits.*-when-down} say) and connects in the background, spaced by the client's reconnect
     * delay.
     *
     * @throws LimitStoreException when the server answers but refuses the connection (a wrong password, a database
     *     it does not have): a misconfiguration, not an outage
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
        RedisURI uri = parse(trimmed);
        checkHost(uri, trimmed);
        uri.setTimeout(timeout);
        RedisClient client = RedisClient.create(uri);
        client.setOptions(ClientOptions.builder()
                .autoReconnect(true)
                .disconnectedBehavior(ClientOptions.DisconnectedBehavior.REJECT_COMMANDS)
                .timeoutOptions(TimeoutOptions.enabled(timeout))
                .build());
        return open(standalone(client), client, true, timeout, false, List.of(trimmed));
    }

    private static Connector standalone(RedisClient client) {
        return () -> {
            StatefulRedisConnection<String, String> c = client.connect(CODEC);
            return new Connected(c, c.async());
        };
    }

    private static Connector cluster(RedisClusterClient client) {
        return () -> {
            StatefulRedisClusterConnection<String, String> c = client.connect(CODEC);
            return new Connected(c, c.async());
        };
    }

    /**
     * Refuses a URI whose host is no host name or address: a password with an unencoded {@code #} or {@code /} ends
     * the authority early (the parser then reads the password as the host), a port that is no number stays in the
     * host. Such a client would try to reach a host that cannot exist, which would look like an outage; the message
     * does not repeat the host, which may be the password.
     */
    private static void checkHost(RedisURI uri, String text) {
        String host = uri.getHost();
        if (!uri.getSentinels().isEmpty()) {
            return;
        }
        boolean usable = host != null && USABLE_HOST.matcher(host).matches();
        for (String secret : secrets(List.of(text))) {
            usable &= host == null || !(host.contains(secret) || secret.contains(host));
        }
        if (!usable) {
            throw new IllegalArgumentException("limits.redis-url is not a usable Redis URI (its host is no host name"
                    + " or address); expected redis://[[user]:password@]host[:port][/database], special characters"
                    + " of the password percent-encoded");
        }
    }

    /** A host name, an IPv4 address or a bracketed IPv6 address. */
    private static final java.util.regex.Pattern USABLE_HOST =
            java.util.regex.Pattern.compile("[A-Za-z0-9._-]+|\\[[0-9A-Fa-f:.]+(%[A-Za-z0-9._-]+)?]");

    /**
     * The failure to connect to {@code uris}, with {@code error} as its cause unless some message of it repeats a
     * part of a URI's user info (a URI the parser misread, such as a password with an unencoded {@code #}, has
     * the password in its host, which Lettuce's message names): then only its text, with those parts redacted.
     */
    private static LimitStoreException connectFailed(String message, RuntimeException error, List<String> uris) {
        String text = said(error);
        String redacted = redact(text, uris);
        return redacted.equals(text)
                ? new LimitStoreException(message, error)
                : new LimitStoreException(message + ": " + redacted, null);
    }

    /** {@code text} with every part of the URIs' user info redacted. */
    private static String redact(String text, List<String> uris) {
        String redacted = text;
        for (String secret : secrets(uris)) {
            redacted = redacted.replace(secret, "[redacted]");
        }
        return redacted;
    }

    /** The user info of each URI, whole and its parts of three characters or more. */
    private static List<String> secrets(List<String> uris) {
        List<String> secrets = new ArrayList<>();
        for (String uri : uris) {
            int scheme = uri.indexOf("://");
            int at = uri.lastIndexOf('@');
            if (scheme >= 0 && at > scheme) {
                String userInfo = uri.substring(scheme + 3, at);
                secrets.add(userInfo);
                for (String part : userInfo.split("[:@/#?]")) {
                    if (part.length() >= 3) {
                        secrets.add(part);
                    }
                }
            }
        }
        return secrets;
    }

    /**
     * {@code uri} parsed, or an exception that does not repeat it: a URI may carry the password, and the parser's
     * message (and its cause's) quotes the whole text, which start-up would print.
     */
    private static RedisURI parse(String uri) {
        try {
            return RedisURI.create(uri);
        } catch (RuntimeException e) {
            String reason = e.getCause() instanceof java.net.URISyntaxException s
                    ? s.getReason() + " at index " + s.getIndex()
                    : e.getClass().getSimpleName();
            throw new IllegalArgumentException("limits.redis-url is not a usable Redis URI (" + reason
                    + "); expected redis://[[user]:password@]host[:port][/database], special characters of the"
                    + " password percent-encoded");
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
            String text = node.contains("://") ? node : "redis://" + node;
            RedisURI uri = parse(text);
            checkHost(uri, text);
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
        return open(cluster(client), client, true, timeout, false, nodes);
    }

    /** {@link #using(AbstractRedisClient, Duration)} with the default timeout ({@link #DEFAULT_TIMEOUT}). */
    public static RedisLimitStore using(AbstractRedisClient client) {
        return using(client, DEFAULT_TIMEOUT);
    }

    /**
     * A store on the application's client (for example the native client of Spring's {@code
     * LettuceConnectionFactory}): a {@link RedisClient} (standalone or Sentinel) or a {@link RedisClusterClient}.
     * The store opens a connection of its own on it, which {@link #close()} closes; the client stays the
     * application's. Commands without an answer within {@code timeout} fail the future. A Redis that cannot be
     * reached now is connected to in the background, as {@link #connect(String, Duration)} does.
     *
     * @throws LimitStoreException when the server answers but refuses the connection (a wrong password, a database
     *     it does not have)
     */
    public static RedisLimitStore using(AbstractRedisClient client, Duration timeout) {
        Objects.requireNonNull(client, "client");
        checkTimeout(timeout);
        if (client instanceof RedisClusterClient cluster) {
            return open(cluster(cluster), client, false, timeout, true, List.of("the application's Redis Cluster"));
        }
        if (client instanceof RedisClient standalone) {
            return open(standalone(standalone), client, false, timeout, true, List.of("the application's Redis"));
        }
        throw new IllegalArgumentException("not a RedisClient or RedisClusterClient: " + client.getClass());
    }

    /** A store on the application's connection, which it never closes. */
    public static RedisLimitStore using(StatefulRedisConnection<String, String> connection, Duration timeout) {
        checkTimeout(timeout);
        return new RedisLimitStore(
                new Connected(connection, connection.async()), null, null, false, timeout, true, "the application's");
    }

    /** A store on the application's Redis Cluster connection, which it never closes. */
    public static RedisLimitStore using(StatefulRedisClusterConnection<String, String> connection, Duration timeout) {
        checkTimeout(timeout);
        return new RedisLimitStore(
                new Connected(connection, connection.async()), null, null, false, timeout, true, "the application's");
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
        // Only an application's client sends a command again after reconnecting; the store's own client fails it
        // instead (see connect): there the marker, a key written per request, would only cost Redis its time.
        boolean named = reservation.reservationId() != null && deadlines != null;
        String[] keys = new String[1 + leases + (named ? 1 : 0)];
        keys[0] = windowsKey(tag);
        String[] args = new String[5 + 6 * n];
        args[0] = Long.toString(now);
        args[1] = LimitKeys.lease(reservation.leaseId());
        args[2] = SLACK_ARG;
        args[3] = "0";
        args[4] = reservedLife;
        if (named) {
            keys[keys.length - 1] = reservedKey(tag, LimitKeys.lease(reservation.reservationId()));
            args[3] = Integer.toString(keys.length); // KEYS is 1-based in the script
        }
        for (int i = 0, l = 1; i < n; i++) {
            Charge c = charges.get(i);
            Window w = c.counter().window();
            int o = 5 + 6 * i;
            args[o + 2] = Long.toString(Math.min(c.counter().limit(), MAX_EXACT));
            args[o + 3] = Long.toString(c.amount());
            if (w instanceof Window.Lease lease) {
                keys[l++] = leaseKey(tag, field(c.counter().name()));
                long hold = lease.maxHold().toMillis();
                args[o] = "-";
                args[o + 1] = Long.toString(hold + SLACK_MILLIS);
                args[o + 4] = Long.toString(now + hold);
                args[o + 5] = "l";
            } else {
                Fields f = fields(c.counter());
                args[o] = f.used();
                args[o + 1] = f.end();
                args[o + 4] = Long.toString(end(w, now));
                args[o + 5] = w instanceof Window.Rolling
                        ? "r"
                        : GENERATIONS[ThreadLocalRandom.current().nextInt(999)] + ":"
                                + ((Window.Calendar) w).period().nextAfter(end(w, now));
            }
        }
        return this.<List<Object>>script(RESERVE, ScriptOutputType.MULTI, keys, args)
                .thenApply(reply -> admission(charges, now, reply));
    }

    /**
     * The reservation script with no limit (2<sup>53</sup>: every charge fits) and always a marker, {@code
     * openai-proxy:limits:{<tag>}:c:<charge>}: the backlog sends a charge again whenever its answer was lost, on any
     * client, so a charge Redis counted is answered as a copy, counted once. The marker lives ten minutes (a replay
     * comes once Redis answers again) whatever the window: a replay after the window ended would count in the next.
     * It costs a key only per charge kept while Redis was down.
     */
    @Override
    public CompletableFuture<Void> count(String subject, Charge charge, String chargeId, long nowMillis) {
        Window w = charge.counter().window();
        if (w instanceof Window.Lease || charge.amount() == 0) {
            return CompletableFuture.completedFuture(null);
        }
        if (chargeId == null) {
            return LimitStore.super.count(subject, charge, null, nowMillis);
        }
        String tag = tag(subject);
        Fields f = fields(charge.counter());
        String[] keys = {windowsKey(tag), countedKey(tag, LimitKeys.lease(chargeId))};
        String[] args = {
            Long.toString(nowMillis),
            "-",
            SLACK_ARG,
            "2", // KEYS is 1-based in the script
            Long.toString(MAX_SETTLED_MILLIS + SLACK_MILLIS),
            f.used(),
            f.end(),
            MAX_EXACT_ARG,
            Long.toString(Math.min(charge.amount(), MAX_EXACT)),
            Long.toString(end(w, nowMillis)),
            w instanceof Window.Rolling ? "r" : "c"
        };
        return this.<List<Object>>script(RESERVE, ScriptOutputType.MULTI, keys, args)
                .thenApply(ignored -> null);
    }

    /** The end of a window of {@code window} that begins, or holds, {@code millis}. */
    private static long end(Window window, long millis) {
        return window instanceof Window.Rolling r
                ? millis + r.length().toMillis()
                : ((Window.Calendar) window).period().nextAfter(millis);
    }

    private static Admission admission(List<Charge> charges, long now, List<Object> reply) {
        int refused = (int) number(reply.get(0)) - 1;
        int n = charges.size();
        List<Admission.CounterState> states = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            long used = number(reply.get(1 + 2 * i));
            long reset = number(reply.get(2 + 2 * i));
            Window w = charges.get(i).counter().window();
            long start; // worked out here rather than stored and sent: a rolling window's is its end less its length
            if (w instanceof Window.Rolling r) {
                start = reset - r.length().toMillis();
            } else if (w instanceof Window.Calendar cal) {
                // The window's generation rides in its start's milliseconds (a period starts on a whole second), so
                // that the settlement names it: see RESERVE.
                long generation = Math.floorMod(reset, 1000L);
                reset -= generation;
                start = cal.period().startOf(reset - 1) + generation;
            } else {
                start = 0;
            }
            states.add(new Admission.CounterState(used, start, reset));
        }
        return new Admission(refused < 0, refused, states);
    }

    /** A number of the script's answer: an integer, or a window's end as the string stored. */
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
        int firstMarker = lease ? 3 : 2; // KEYS is 1-based in the script
        List<String> markers = new ArrayList<>(1); // one per settlement named: usually the one of the request
        String[] args = new String[4 + 7 * n];
        args[0] = Long.toString(nowMillis);
        args[1] = MAX_EXACT_ARG;
        args[2] = LimitKeys.lease(leaseId);
        args[3] = Integer.toString(firstMarker);
        int o = 4;
        for (Adjustment a : adjustments) {
            Window w = a.counter().window();
            if (!(w instanceof Window.Lease) && a.delta() != 0) {
                Fields f = fields(a.counter());
                long end = end(w, a.windowStartMillis());
                long generation = w instanceof Window.Calendar ? Math.floorMod(a.windowStartMillis(), 1000L) : 0;
                args[o] = f.used();
                args[o + 1] = f.end();
                args[o + 2] = Long.toString(end);
                args[o + 3] = Long.toString(Math.max(-MAX_EXACT, Math.min(MAX_EXACT, a.delta())));
                String marker = a.settlementId() == null ? null : settledKey(tag, LimitKeys.lease(a.settlementId()));
                int index = marker == null ? -1 : markers.indexOf(marker);
                if (marker != null && index < 0) {
                    markers.add(marker);
                    index = markers.size() - 1;
                }
                args[o + 4] = index < 0 ? "0" : Integer.toString(firstMarker + index);
                // As long as the window can still be adjusted (a later replay finds it over), at most ten minutes.
                args[o + 5] = Long.toString(Math.max(0, Math.min(end - nowMillis, MAX_SETTLED_MILLIS)) + SLACK_MILLIS);
                args[o + 6] = Long.toString(generation);
                o += 7;
            }
        }
        String[] keys = new String[firstMarker - 1 + markers.size()];
        keys[0] = windowsKey(tag);
        if (lease) {
            keys[1] = leaseKey(tag, field(leaseCounter.name()));
        }
        for (int i = 0; i < markers.size(); i++) {
            keys[firstMarker - 1 + i] = markers.get(i);
        }
        return this.<Long>script(SETTLE, ScriptOutputType.INTEGER, keys, args).thenApply(ignored -> null);
    }

    @Override
    public CompletableFuture<Void> release(String subject, Counter counter, String leaseId) {
        RedisClusterAsyncCommands<String, String> commands = this.commands;
        if (commands == null || !commands.isOpen()) {
            return CompletableFuture.failedFuture(disconnected());
        }
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

    /**
     * Whether Redis answers now: a {@code PING} on the store's connection, within the store's timeout. Fails at
     * once while the store is not connected (Redis down at start, or the connection lost), as every call does.
     */
    public CompletableFuture<Void> ping() {
        RedisClusterAsyncCommands<String, String> c = this.commands;
        if (c == null) {
            return CompletableFuture.failedFuture(new LimitStoreException("not connected", null));
        }
        try {
            return c.ping().toCompletableFuture().thenApply(pong -> null);
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    /** Closes the connection and the client the store opened; an application's own stay open. */
    @Override
    public void close() {
        StatefulConnection<String, String> connection;
        synchronized (lock) {
            closed = true;
            if (connecting != null) {
                connecting.shutdownNow();
                connecting = null;
            }
            connection = ownedConnection;
        }
        if (connection != null) {
            connection.close();
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
        return name.length() > MAX_CACHED_KEY ? LimitKeys.counter(name) : names.get(name, LimitKeys::counter);
    }

    /** A window counter's two fields in the subject's hash, remembered. */
    private Fields fields(Counter counter) {
        return counter.name().length() > MAX_CACHED_KEY ? Fields.of(counter) : counterFields.get(counter, Fields::of);
    }

    /**
     * A window counter's fields: its amount used and its window's end. Both are named after the counter and the
     * window's spec ({@link LimitKeys#spec}), so a counter whose window changes in the configuration starts anew.
     */
    private record Fields(String used, String end) {
        static Fields of(Counter counter) {
            String used = LimitKeys.counter(counter.name()) + ":" + LimitKeys.spec(counter.window());
            return new Fields(used, used + ":e");
        }
    }

    /** A bounded cache, evicting on the caller's thread (anonymous callers come and go). */
    private static <K, V> Cache<K, V> bounded() {
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

    /** The marker of a named reservation made ({@link Reservation#reservationId}). */
    private static String reservedKey(String tag, String reservation) {
        return PREFIX + tag + ":r:" + reservation;
    }

    /** The marker of a charge counted ({@link #count}). */
    private static String countedKey(String tag, String charge) {
        return PREFIX + tag + ":c:" + charge;
    }

    /** The set of the counters a named settlement adjusted ({@link Adjustment#settlementId}). */
    private static String settledKey(String tag, String settlement) {
        return PREFIX + tag + ":s:" + settlement;
    }

    /** EVALSHA, and EVAL when the server does not hold the script (a restart, a failover, SCRIPT FLUSH). */
    private <T> CompletableFuture<T> script(Script script, ScriptOutputType type, String[] keys, String[] args) {
        RedisClusterAsyncCommands<String, String> commands = this.commands;
        if (commands == null || !commands.isOpen()) {
            return CompletableFuture.failedFuture(disconnected());
        }
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
        CompletableFuture<T> waited = deadlines == null ? future : deadlines.timed(future);
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

    /**
     * While the connection is down, calls fail at once and nothing is handed to the client. A client of the store's
     * own rejects commands then; an application's client (Lettuce's default, Spring Data Redis's) queues them until
     * it has reconnected, so each would wait out the timeout and then stay in its buffer, cancelled, for the rest of
     * the outage: about 1.6 KB of heap per request.
     */
    private LimitStoreException disconnected() {
        return new LimitStoreException(
                commands == null
                        ? "the Redis limit store has not reached Redis since start (connecting in the background)"
                        : "the Redis limit store is not connected (Lettuce is reconnecting)",
                null);
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
            if (!StandardCharsets.US_ASCII.newEncoder().canEncode(text)) {
                throw new IllegalArgumentException("a script is sent through an ASCII codec");
            }
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
