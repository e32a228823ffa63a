package io.github.openaiproxy.core;

import io.github.openaiproxy.core.cors.CorsPolicy;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.keys.KeyResolver;
import io.github.openaiproxy.core.normalize.ChatRequestNormalizer;
import io.github.openaiproxy.core.normalize.ImageRequestNormalizer;
import io.github.openaiproxy.core.observe.GuardedExchange;
import io.github.openaiproxy.core.observe.ObservedResponses;
import io.github.openaiproxy.core.observe.ProxyObserver;
import io.github.openaiproxy.core.relay.ResponseRelay;
import io.github.openaiproxy.core.route.CustomRoute;
import io.github.openaiproxy.core.route.RouteTable;
import io.github.openaiproxy.core.upstream.UpstreamClient;
import io.github.openaiproxy.core.upstream.UpstreamRequests;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;

/**
 * The proxy: takes a {@link ProxyRequest}, answers a {@link ProxyResponse}. Thread-safe and
 * non-blocking: {@link #handle} returns at once and completes when the response headers are known.
 * Several engines with different configurations can live in one JVM.
 *
 * <p>Per request, in this order: route, CORS (preflight or origin check), method (405), content type
 * (415), body size (413), body validation and normalization (400), key (403/500), upstream call
 * (502/504 when it fails), relay of the answer.
 */
public final class ProxyEngine implements AutoCloseable {
    private final ProxyConfig config;
    private final UpstreamClient upstream;
    private final boolean ownsUpstream;
    private final ProxyObserver observer;
    final RouteTable routes;
    final CorsPolicy cors;
    final KeyResolver keys;
    final ChatRequestNormalizer chat;
    final ImageRequestNormalizer image;
    final UpstreamRequests upstreamRequests;
    final ResponseRelay relay;

    private ProxyEngine(Builder b) {
        this.config = b.config;
        this.routes = RouteTable.of(config.passThroughRoutes(), b.routes); // may refuse: before any resource
        this.observer = b.observer;
        this.ownsUpstream = b.upstream == null;
        this.upstream = b.upstream == null ? UpstreamClient.jdk(config.upstream()) : b.upstream;
        this.cors = new CorsPolicy(config.cors());
        this.keys = new KeyResolver(config.keys());
        this.chat = new ChatRequestNormalizer(config.chatDefaults());
        this.image = new ImageRequestNormalizer(config.imageDefaults());
        this.upstreamRequests = new UpstreamRequests(config.upstream());
        this.relay = new ResponseRelay(config.maxEventSize());
    }

    /** An engine with the default upstream client (the JDK's HttpClient); {@link #close()} releases it. */
    public static ProxyEngine create(ProxyConfig config) {
        return builder(config).build();
    }

    /** An engine on a client the caller owns (and closes). */
    public static ProxyEngine create(ProxyConfig config, UpstreamClient upstream) {
        return builder(config).upstreamClient(upstream).build();
    }

    /** A builder for an engine with extras: its own upstream client, an observer, routes of modules. */
    public static Builder builder(ProxyConfig config) {
        return new Builder(config);
    }

    public ProxyConfig config() {
        return config;
    }

    UpstreamClient upstream() {
        return upstream;
    }

    /**
     * Whether a path (relative to the mount point) is one of the proxy's routes, whatever the method.
     * A filter hands everything else down its chain.
     */
    public boolean hasRoute(String path) {
        return routes.match(path).isPresent();
    }

    /**
     * Handles a request. The future completes with the response once its headers are known; cancel it
     * when the client goes away, and the upstream call is aborted. It never completes exceptionally
     * except by that cancellation: every failure becomes an error response.
     */
    public CompletableFuture<ProxyResponse> handle(ProxyRequest request) {
        long start = System.nanoTime();
        ProxyObserver.Exchange observation = GuardedExchange.begin(observer, request.method(), request.path());
        Exchange exchange = new Exchange(this, request, observation, observer.wantsDetails());
        CompletableFuture<ProxyResponse> result = new CompletableFuture<>();
        exchange.run().whenComplete((response, error) -> {
            ProxyResponse r = error == null ? response : exchange.internalError(error);
            exchange.reportRoute();
            ProxyResponse observed = ObservedResponses.observe(r, observation, start, observer.wantsDetails());
            if (!result.complete(observed)) {
                observed.discard();
            }
        });
        result.whenComplete((r, e) -> {
            if (result.isCancelled()) {
                exchange.cancel();
            }
        });
        return result;
    }

    /** Closes the upstream client if this engine created it. */
    @Override
    public void close() {
        if (ownsUpstream) {
            upstream.close();
        }
    }

    /** Builds a {@link ProxyEngine}. */
    public static final class Builder {
        private final ProxyConfig config;
        private UpstreamClient upstream;
        private ProxyObserver observer = ProxyObserver.NONE;
        private final List<CustomRoute> routes = new ArrayList<>();

        private Builder(ProxyConfig config) {
            this.config = Objects.requireNonNull(config, "config");
        }

        /** Uses a client the caller owns (and closes) instead of creating the default one. */
        public Builder upstreamClient(UpstreamClient upstream) {
            this.upstream = Objects.requireNonNull(upstream, "upstream");
            return this;
        }

        /** Reports every exchange to an observer (metrics, tracing). */
        public Builder observer(ProxyObserver observer) {
            this.observer = Objects.requireNonNull(observer, "observer");
            return this;
        }

        /** Adds a route of a module, such as {@code /graphql}. */
        public Builder route(CustomRoute route) {
            this.routes.add(Objects.requireNonNull(route, "route"));
            return this;
        }

        public ProxyEngine build() {
            return new ProxyEngine(this);
        }
    }
}
