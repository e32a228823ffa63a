package io.github.openaiproxy.core.access;

import io.github.openaiproxy.core.http.ProxyRequest;
import java.util.concurrent.CompletableFuture;

/**
 * SPI: one way a request proves who it is. The engine asks its sources in order (proxy key, host user, JWT)
 * and the first answer other than {@link Resolution#ABSENT} decides; when all are absent the caller is
 * anonymous. A source must not block the calling thread: one that reads a database or the network does so on
 * an executor and completes the future there.
 */
@FunctionalInterface
public interface IdentitySource {
    /** What this source makes of the request. */
    CompletableFuture<Resolution> resolve(ProxyRequest request);
}
