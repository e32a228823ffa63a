package io.github.openaiproxy.core.internal;

import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;

/** Thread factories for core's own pools: daemon threads, so that a pool never keeps the JVM alive. */
public final class DaemonThreads {
    private DaemonThreads() {}

    /** Daemon threads named {@code prefix} and a count from 1 ({@code openai-proxy-admin-1}, ...). */
    public static ThreadFactory numbered(String prefix) {
        AtomicInteger n = new AtomicInteger();
        return r -> {
            Thread t = new Thread(r, prefix + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
    }
}
