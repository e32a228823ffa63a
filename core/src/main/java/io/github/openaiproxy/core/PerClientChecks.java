package io.github.openaiproxy.core;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.Supplier;

/**
 * One of the engine's small bounded pools (the access threads that check stored proxy keys and JWTs, the session
 * and image store threads) as each client address sees it: at most {@code max} of one client's tasks wait or run at
 * once, so a client sending random keys, tokens or session ids faster than the store or the signature check answers
 * cannot take every place of the shared queue and leave every other caller with 503. The client is the one whose
 * request {@link #run} is handling: the identify step, a custom route (sessions, images) and the session step hand
 * their calls to the pool within that call. A task handed over outside it (no client known, such as a turn's
 * recording once the upstream answered) is not counted.
 */
final class PerClientChecks implements Executor {
    /** The client a request being identified on this thread comes from. */
    private static final ThreadLocal<String> CLIENT = new ThreadLocal<>();

    /** A client's task refused because it has {@code max} waiting or running already (a credential check: 429). */
    static final class ClientBusyException extends RejectedExecutionException {
        private static final long serialVersionUID = 1L;

        ClientBusyException() {
            super("too many calls waiting from this client", null);
        }

        @Override
        public synchronized Throwable fillInStackTrace() {
            return this; // refused in floods: no stack to fill
        }
    }

    private final Executor threads;
    private final int max;
    /** Tasks waiting or running per client; an entry leaves when it falls to zero. */
    private final ConcurrentHashMap<String, Integer> pending = new ConcurrentHashMap<>();

    /**
     * @param threads the pool
     * @param max the most tasks of one client at once; {@code 0}: no cap
     */
    PerClientChecks(Executor threads, int max) {
        this.threads = threads;
        this.max = max;
    }

    /** Runs {@code work} (which may hand tasks to these pools) as the request of {@code client}. */
    static <T> T run(String client, Supplier<T> work) {
        if (client == null) {
            return work.get();
        }
        String outer = CLIENT.get();
        CLIENT.set(client);
        try {
            return work.get();
        } finally {
            if (outer == null) {
                CLIENT.remove();
            } else {
                CLIENT.set(outer);
            }
        }
    }

    @Override
    public void execute(Runnable task) {
        String client = CLIENT.get();
        if (client == null || max == 0) {
            threads.execute(task);
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
                    task.run();
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

    /** Clients with tasks waiting or running (tests). */
    int clients() {
        return pending.size();
    }
}
