package io.github.openaiproxy.core;

import java.util.Objects;
import java.util.concurrent.CompletableFuture;

/**
 * One check of a store the proxy reaches over the network, from {@link ProxyEngine#probeStores()}: completes when
 * the store answered, fails when it did not. Cancel {@link #answer} to give up waiting.
 *
 * @param store what the store holds: {@code limits} or {@code images}
 * @param kind the store's kind: {@code redis}, {@code s3}
 * @param answer the store's answer
 */
public record StoreProbe(String store, String kind, CompletableFuture<Void> answer) {
    public StoreProbe {
        Objects.requireNonNull(store, "store");
        Objects.requireNonNull(kind, "kind");
        Objects.requireNonNull(answer, "answer");
    }
}
