package io.github.openaiproxy.core.upstream;

import io.github.openaiproxy.core.internal.Internal;
import io.github.openaiproxy.core.keys.ApiKey;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * One named upstream's keys: requests take the usable key least recently limited, the longest unused among
 * equals (so keys never limited share the load); a 429 cools a key down, a 401 takes it out for good. Lock
 * free: a key's state is two volatile fields, and a race between two requests at worst sends both on one
 * key, which the next 429 corrects.
 */
@Internal
public final class KeyPool {
    private static final System.Logger LOG = System.getLogger(KeyPool.class.getName());

    /** One key and what the upstream said about it. */
    public static final class Slot {
        private final ApiKey key;
        private final String id;
        /** {@link System#nanoTime()} until which the key rests; 0: usable. */
        private volatile long coolUntil;
        /** When the key was last limited, 0 for never; the pool prefers the oldest. */
        private volatile long limitedAt;

        private volatile boolean removed;
        /** The pool's turn when the key was last taken: among equals the pool takes the longest unused. */
        private volatile long usedAt;

        Slot(ApiKey key, String id) {
            this.key = key;
            this.id = id;
        }

        /** The key, for the request's auth header. */
        public ApiKey key() {
            return key;
        }

        /** The key's masked id: the upstream's name and the key's place in its list ({@code azure#2}). */
        public String id() {
            return id;
        }

        @Override
        public String toString() {
            return "Slot[" + id + "]";
        }
    }

    private final String upstream;
    private final Slot[] slots;
    private final AtomicLong turn = new AtomicLong();
    private final LongSupplier nanoTime;

    /** A pool over the upstream's keys; empty for a compatible server without auth. */
    public KeyPool(NamedUpstream upstream) {
        this(upstream, System::nanoTime);
    }

    KeyPool(NamedUpstream upstream, LongSupplier nanoTime) {
        this.upstream = upstream.name();
        this.nanoTime = nanoTime;
        List<String> keys = upstream.keys();
        this.slots = new Slot[keys.size()];
        for (int i = 0; i < slots.length; i++) {
            slots[i] = new Slot(ApiKey.of(keys.get(i)).orElseThrow(), upstream.name() + "#" + (i + 1));
        }
    }

    /** Whether the upstream takes no key at all. */
    public boolean isKeyless() {
        return slots.length == 0;
    }

    /**
     * The key for the next request: among those neither cooling down nor taken out, the least recently
     * limited, the longest unused among equals; {@code null} when every key is cooling down or out (the upstream has
     * failed this request).
     */
    public Slot take() {
        int n = slots.length;
        if (n == 0) {
            return null;
        }
        long now = nanoTime.getAsLong();
        Slot best = null;
        for (Slot s : slots) {
            if (s.removed || (s.coolUntil != 0 && now - s.coolUntil < 0)) {
                continue;
            }
            if (best == null
                    || limitedLongerAgo(s, best)
                    || (s.limitedAt == best.limitedAt && s.usedAt < best.usedAt)) {
                best = s;
            }
        }
        if (best != null) {
            best.usedAt = turn.incrementAndGet();
        }
        return best;
    }

    /** Whether {@code a} was limited longer ago than {@code b}; never limited is longest ago. */
    private static boolean limitedLongerAgo(Slot a, Slot b) {
        if (a.limitedAt == 0) {
            return b.limitedAt != 0;
        }
        return b.limitedAt != 0 && a.limitedAt - b.limitedAt < 0;
    }

    /** A 429 for this key: it rests for {@code rest} (the upstream's Retry-After, or the configured time). */
    public void coolDown(Slot slot, Duration rest) {
        long now = nanoTime.getAsLong();
        long until = now + Math.max(1, rest.toNanos());
        slot.limitedAt = now == 0 ? 1 : now;
        slot.coolUntil = until == 0 ? 1 : until;
        LOG.log(System.Logger.Level.INFO, "upstream key {0} is rate limited; resting {1} ms", slot.id, rest.toMillis());
    }

    /** A 401 for this key: it is taken out until the proxy restarts. */
    public void remove(Slot slot) {
        if (!slot.removed) {
            slot.removed = true;
            LOG.log(
                    System.Logger.Level.WARNING,
                    "upstream key {0} was refused by the upstream and is taken out",
                    slot.id);
        }
    }

    /** How many keys may be taken now (neither resting nor out). */
    public int usableCount() {
        long now = nanoTime.getAsLong();
        int c = 0;
        for (Slot s : slots) {
            if (!s.removed && (s.coolUntil == 0 || now - s.coolUntil >= 0)) {
                c++;
            }
        }
        return c;
    }

    /**
     * How long until a resting key may be taken again: the shortest rest left. Empty when no key rests (one is
     * usable, or every key is out).
     */
    public Optional<Duration> nextKeyIn() {
        long now = nanoTime.getAsLong();
        long shortest = Long.MAX_VALUE;
        for (Slot s : slots) {
            if (!s.removed && s.coolUntil != 0 && now - s.coolUntil < 0) {
                shortest = Math.min(shortest, s.coolUntil - now);
            }
        }
        return shortest == Long.MAX_VALUE ? Optional.empty() : Optional.of(Duration.ofNanos(shortest));
    }

    /**
     * Whether the upstream has keys and every one was taken out (a 401 each): only an operator's fix and a restart
     * bring one back, so no retry of the client's can help.
     */
    public boolean allRemoved() {
        return slots.length > 0 && removedCount() == slots.length;
    }

    /** How many keys are taken out (for health and metrics). */
    public int removedCount() {
        int c = 0;
        for (Slot s : slots) {
            if (s.removed) {
                c++;
            }
        }
        return c;
    }

    @Override
    public String toString() {
        return "KeyPool[" + upstream + ", " + slots.length + " keys]";
    }
}
