package io.github.openaiproxy.core;

import io.github.openaiproxy.core.flow.ForwardingSubscriber;
import io.github.openaiproxy.core.http.ProxyResponse;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Flow;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Counts the upstream calls in flight, in total and per client address, against the configured caps. A
 * call over a cap is refused at once (never queued). A permit is held from before the upstream call until
 * its answer's body has completed, failed or been cancelled, and is released exactly once.
 *
 * <p>Cheap on the hot path: one atomic counter, and one map entry per client address with calls in flight
 * (entries are removed when they fall to zero, so the map stays as small as the set of active clients).
 */
final class UpstreamPermits {
    /** The answer to a request for a permit. */
    sealed interface Ask permits Permit, Refused {}

    /** Why no permit was given. */
    enum Refused implements Ask {
        /** The proxy-wide cap is reached: 503. */
        TOTAL,
        /** This client address's cap is reached: 429. */
        PER_CLIENT
    }

    private final int maxTotal;
    private final int maxPerClient;
    private final AtomicInteger total = new AtomicInteger();
    private final ConcurrentHashMap<String, Integer> perClient = new ConcurrentHashMap<>();

    UpstreamPermits(int maxTotal, int maxPerClient) {
        this.maxTotal = maxTotal;
        this.maxPerClient = maxPerClient;
    }

    /**
     * A permit for one upstream call, or why not.
     *
     * @param client the client's address, or {@code null} when unknown (then only the total cap applies)
     */
    Ask acquire(String client) {
        int now = total.incrementAndGet();
        if (maxTotal > 0 && now > maxTotal) {
            total.decrementAndGet();
            return Refused.TOTAL;
        }
        String counted = maxPerClient > 0 ? client : null;
        if (counted != null) {
            boolean[] refused = new boolean[1];
            // compute() runs atomically per key, so a count never races with the removal of its entry.
            perClient.compute(counted, (k, n) -> {
                int held = n == null ? 0 : n;
                if (held >= maxPerClient) {
                    refused[0] = true;
                    return n;
                }
                return held + 1;
            });
            if (refused[0]) {
                total.decrementAndGet();
                return Refused.PER_CLIENT;
            }
        }
        return new Permit(this, counted);
    }

    private void release(String client) {
        total.decrementAndGet();
        if (client != null) {
            perClient.compute(client, (k, n) -> n == null || n <= 1 ? null : n - 1);
        }
    }

    /** Upstream calls in flight now. */
    int inFlight() {
        return total.get();
    }

    /** Client addresses with calls in flight now (each has one map entry). */
    int clientsInFlight() {
        return perClient.size();
    }

    /** One upstream call's share of the caps. */
    static final class Permit implements Ask {
        private static final VarHandle RELEASED;

        static {
            try {
                RELEASED = MethodHandles.lookup().findVarHandle(Permit.class, "released", boolean.class);
            } catch (ReflectiveOperationException e) {
                throw new ExceptionInInitializerError(e);
            }
        }

        private final UpstreamPermits owner;
        private final String client;

        @SuppressWarnings("unused") // through RELEASED
        private volatile boolean released;

        private Permit(UpstreamPermits owner, String client) {
            this.owner = owner;
            this.client = client;
        }

        /** Gives the permit back; later calls do nothing. */
        void release() {
            if (RELEASED.compareAndSet(this, false, true)) {
                owner.release(client);
            }
        }

        /** The response with a body that gives the permit back when it completes, fails or is cancelled. */
        ProxyResponse heldUntilDone(ProxyResponse r) {
            return new ProxyResponse(r.status(), r.headers(), new ReleasingBody(r.body(), this), r.streaming());
        }
    }

    /** A body that releases its permit on its first subscriber's end, whichever way it ends. */
    private static final class ReleasingBody implements Flow.Publisher<List<ByteBuffer>> {
        private final Flow.Publisher<List<ByteBuffer>> body;
        private final Permit permit;
        private final AtomicBoolean subscribed = new AtomicBoolean();

        ReleasingBody(Flow.Publisher<List<ByteBuffer>> body, Permit permit) {
            this.body = body;
            this.permit = permit;
        }

        @Override
        public void subscribe(Flow.Subscriber<? super List<ByteBuffer>> subscriber) {
            java.util.Objects.requireNonNull(subscriber, "subscriber"); // rule 1.9, before the permit is spoken for
            if (!subscribed.compareAndSet(false, true)) {
                body.subscribe(subscriber); // the body refuses a second subscriber; the permit is not its
                return;
            }
            body.subscribe(new ForwardingSubscriber<List<ByteBuffer>>(subscriber) {
                @Override
                public void cancel() {
                    permit.release();
                    super.cancel();
                }

                @Override
                public void onError(Throwable t) {
                    permit.release();
                    super.onError(t);
                }

                @Override
                public void onComplete() {
                    permit.release();
                    super.onComplete();
                }
            });
        }
    }
}
