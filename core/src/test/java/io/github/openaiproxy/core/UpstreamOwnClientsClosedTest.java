package io.github.openaiproxy.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.upstream.UpstreamClient;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.core.upstream.UpstreamRequest;
import io.github.openaiproxy.core.upstream.UpstreamResponse;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * The clients the engine makes for named upstreams' own timeouts or HTTP version are closed exactly once: with the
 * engine, or when the build is refused after some of them were made, whatever the refusal is. The application's
 * client is never closed by the engine.
 */
class UpstreamOwnClientsClosedTest {
    /** An application's client whose n-th made client fails as {@code failure} says ({@code null}: never). */
    static final class Counting implements UpstreamClient {
        final AtomicInteger closes = new AtomicInteger();
        final List<Counting> made = new CopyOnWriteArrayList<>();
        final int failOn;
        final Supplier<? extends Throwable> failure;

        Counting(int failOn, Supplier<? extends Throwable> failure) {
            this.failOn = failOn;
            this.failure = failure;
        }

        @Override
        public CompletableFuture<UpstreamResponse> send(UpstreamRequest request) {
            return CompletableFuture.failedFuture(new IllegalStateException("not called here"));
        }

        @Override
        public UpstreamClient withSettings(Duration connect, Duration response, UpstreamConfig.HttpVersion version) {
            if (made.size() + 1 == failOn) {
                Throwable t = failure.get();
                if (t instanceof RuntimeException e) {
                    throw e;
                }
                throw (Error) t;
            }
            Counting c = new Counting(0, null);
            made.add(c);
            return c;
        }

        @Override
        public void close() {
            closes.incrementAndGet();
        }
    }

    /** Three upstreams with settings of their own, two of them the same: two clients to make. */
    private static ProxySettings settings() {
        Map<String, String> s = new HashMap<>();
        s.put("api-key", "sk-default");
        for (String name : List.of("a", "b", "c")) {
            s.put("upstreams." + name + ".kind", "compatible");
            s.put("upstreams." + name + ".base-url", "http://127.0.0.1:1/" + name + "/v1");
            s.put("upstreams." + name + ".models", name + "-*");
        }
        s.put("upstreams.a.connect-timeout", "5s");
        s.put("upstreams.b.connect-timeout", "5s");
        s.put("upstreams.c.http-version", "2");
        return ProxySettings.from(s);
    }

    @Test
    void aClientSharedByTwoUpstreamsIsClosedOnceWithTheEngineAndTheApplicationsNever() {
        Counting app = new Counting(0, null);
        ProxyEngine engine = ProxyEngine.create(settings().toConfig(), app);

        engine.close();
        engine.close();

        assertThat(app.made).hasSize(2);
        assertThat(app.made).allSatisfy(c -> assertThat(c.closes.get()).isEqualTo(1));
        assertThat(app.closes.get()).isZero();
    }

    @Test
    void aRefusedSecondClientClosesTheFirstOnce() {
        Counting app = new Counting(2, () -> new IllegalArgumentException("2, but the transport speaks HTTP/1.1"));

        assertThatThrownBy(() -> ProxyEngine.create(settings().toConfig(), app))
                .isInstanceOf(IllegalArgumentException.class);

        assertThat(app.made).hasSize(1);
        assertThat(app.made.get(0).closes.get()).isEqualTo(1);
        assertThat(app.closes.get()).isZero();
    }

    @Test
    void aSecondClientThatCannotLinkClosesTheFirstOnce() {
        // Jetty's HTTP/2 transport jar present but one it needs missing: an Error, not an exception.
        Counting app = new Counting(2, () -> new NoClassDefFoundError("org/eclipse/jetty/http2/hpack/HpackEncoder"));

        assertThatThrownBy(() -> ProxyEngine.create(settings().toConfig(), app))
                .isInstanceOf(NoClassDefFoundError.class);

        assertThat(app.made).hasSize(1);
        assertThat(app.made.get(0).closes.get()).isEqualTo(1);
        assertThat(app.closes.get()).isZero();
    }
}
