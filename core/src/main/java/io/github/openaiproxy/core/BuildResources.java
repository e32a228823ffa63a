package io.github.openaiproxy.core;

import java.util.ArrayDeque;
import java.util.Deque;

/**
 * What an engine's build made so far (threads, clients, stores), closed in reverse when the build is refused part
 * way: an application that retries a refused build, or a test that asserts the refusal, keeps nothing of it.
 */
final class BuildResources {
    private final Deque<AutoCloseable> made = new ArrayDeque<>();

    /** Registers {@code resource}, closed by {@link #closeAfter} when the build fails; returns it. */
    <T> T add(T resource, AutoCloseable close) {
        made.push(close);
        return resource;
    }

    /** Closes what was made, last first; a failure to close is added to {@code cause}, never thrown. */
    void closeAfter(Throwable cause) {
        while (!made.isEmpty()) {
            try {
                made.pop().close();
            } catch (Exception | LinkageError e) {
                cause.addSuppressed(e);
            }
        }
    }
}
