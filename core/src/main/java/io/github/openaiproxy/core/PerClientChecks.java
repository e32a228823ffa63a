package io.github.openaiproxy.core;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.Supplier;

/**
 * The engine's access threads (stored proxy keys, JWTs) as each client address sees them: at most {@code max} of
 * one client's credential checks wait or run at once, so a client sending random keys or tokens faster than the
 * store or the signature check answers cannot take every place of the shared queue and leave every other caller
 * with 503. The client is the one whose request {@link #run} is identifying: the sources hand their check to the
 * executor within that call. A task handed over outside it (no client known) is not counted.
 */
final class PerClientChecks implements Executor {
    /** The client a request being identified on this thread comes from. */
    private static final ThreadLocal<String> CLIENT = new ThreadLocal<>();

    /** A client's check refused because it has {@code max} waiting or running already: 429, not the queue's 503. */
    static final class ClientBusyException extends RejectedExecutionException {
        private static final long serialVersionUID = 1L;

        ClientBusyException() {
            super("too many credential checks from this client", null);
        }

        @Override
        public synchronized Throwable fillInStackTrace() {
            return this; // refused in floods: no stack to fill
        }
    }

    private final Executor threads;
    private final int max;
    /** Checks waiting or running per client; an entry leaves when it falls to zero. */
    private final ConcurrentHashMap<String, Integer> pending = new ConcurrentHashMap<>();

    /**
     * @param threads the access threads
     * @param max the most checks of one client at once; {@code 0}: no cap
     */
    PerClientChecks(Executor threads, int max) {
        this.threads = threads;
        this.max = max;
    }

    /** Runs {@code identify} (which may hand checks to this executor) as the request of {@code client}. */
    static <T> T run(String client, Supplier<T> identify) {
        if (client == null) {
            return identify.get();
        }
        String outer = CLIENT.get();
        CLIENT.set(client);
        try {
            return identify.get();
        } finally {
            if (outer == null) {
                CLIENT.remove();
            } else {
                CLIENT.set(outer);
            }
        }
    }

    @Override
    public void execute(Runnable check) {
        String client = CLIENT.get();
        if (client == null || max == 0) {
            threads.execute(check);
            return;
        }
        boolean[] admitted = {false};
        pending.compute(client, (c, n) -> {
            int now = n == null ? 0 : n;
            if (now >= max) {
                return n;
            }
            admitted[0] = true;
            return now + 1;
        });
        if (!admitted[0]) {
            throw new ClientBusyException();
        }
        try {
            threads.execute(() -> {
                try {
                    check.run();
                } finally {
                    release(client);
                }
            });
        } catch (RuntimeException e) {
            release(client);
            throw e;
        }
    }

    private void release(String client) {
        pending.computeIfPresent(client, (c, n) -> n <= 1 ? null : n - 1);
    }

    /** Clients with checks waiting or running (tests). */
    int clients() {
        return pending.size();
    }
}
