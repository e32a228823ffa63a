package io.github.openaiproxy.core.access;

import io.github.openaiproxy.core.http.ProxyRequest;
import java.util.concurrent.CompletableFuture;

/**
 * SPI: one way a request proves who it is. The engine asks its sources in order (proxy key, host user, JWT)
 * and the first answer other than {@link Resolution#ABSENT} decides; when all are absent the caller is
 * anonymous. A source must not block the calling thread: one that reads a database or the network does so on
 * an executor and completes the future there.
 *
 * <p>A future that fails means the source could not decide (its store is down): the client gets 503 and may
 * retry. A future of {@code null} refuses the request (401), as {@link Resolution#rejected} does. A source that
 * throws or returns {@code null} is a bug: 500. The engine sets no deadline of its own: a source that may wait
 * on the network times out its own calls.
 */
@FunctionalInterface
public interface IdentitySource {
    /** What this source makes of the request. */
    CompletableFuture<Resolution> resolve(ProxyRequest request);
}
