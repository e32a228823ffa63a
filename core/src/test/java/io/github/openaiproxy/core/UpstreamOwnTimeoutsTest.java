package io.github.openaiproxy.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.internal.Bodies;
import io.github.openaiproxy.core.internal.HeaderMap;
import io.github.openaiproxy.core.upstream.UpstreamClient;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.core.upstream.UpstreamRequest;
import io.github.openaiproxy.core.upstream.UpstreamResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

/**
 * {@code upstreams.<name>.connect-timeout} and {@code .timeout}: an upstream with either is called through a client
 * made from the engine's with those timeouts (the other one falling back to {@code connect-timeout} /
 * {@code response-timeout}), the other upstreams through the engine's client, and the made client is closed with
 * the engine. The timeouts themselves are the clients' (over HTTP: {@code UpstreamConnectionHttpTest}).
 */
class UpstreamOwnTimeoutsTest {
    /** A client that answers 200 and records what it was asked, and the clients made from it. */
    static final class Recording implements UpstreamClient {
        final String name;
        final List<String> log;
        boolean closed;
        int closes;
        final List<Recording> made = new CopyOnWriteArrayList<>();

        Recording(String name, List<String> log) {
            this.name = name;
            this.log = log;
        }

        @Override
        public CompletableFuture<UpstreamResponse> send(UpstreamRequest request) {
            log.add(name + " " + request.uri().getPath());
            return CompletableFuture.completedFuture(new UpstreamResponse(
                    200,
                    new HeaderMap().set("content-type", "application/json").build(),
                    Bodies.responseOf("{}".getBytes(StandardCharsets.UTF_8))));
        }

        @Override
        public UpstreamClient withTimeouts(Duration connectTimeout, Duration responseTimeout) {
            Recording r = new Recording(name + "[" + connectTimeout + "," + responseTimeout + "]", log);
            made.add(r);
            return r;
        }

        @Override
        public void close() {
            closed = true;
            closes++;
        }
    }

    @Test
    void anUpstreamWithItsOwnTimeoutsGetsAClientOfItsOwnClosedWithTheEngine() {
        List<String> log = new CopyOnWriteArrayList<>();
        Recording base = new Recording("base", log);
        Map<String, String> s = new java.util.HashMap<>();
        s.put("api-key", "sk-default");
        s.put("response-timeout", "2m");
        s.put("upstreams.slow.kind", "compatible");
        s.put("upstreams.slow.base-url", "http://127.0.0.1:1/slow/v1");
        s.put("upstreams.slow.models", "slow-*");
        s.put("upstreams.slow.connect-timeout", "2s");
        s.put("upstreams.plain.kind", "compatible");
        s.put("upstreams.plain.base-url", "http://127.0.0.1:1/plain/v1");
        s.put("upstreams.plain.models", "plain-*");
        ProxyEngine engine = ProxyEngine.create(ProxySettings.from(s).toConfig(), base);

        EngineFixture.send(engine, EngineFixture.post("/v1/chat/completions", "{\"model\":\"slow-1\"}"));
        EngineFixture.send(engine, EngineFixture.post("/v1/chat/completions", "{\"model\":\"plain-1\"}"));
        engine.close();

        assertThat(log)
                .containsExactly(
                        "base[PT2S,PT2M] /slow/v1/chat/completions", // own connect timeout, response-timeout's
                        "base /plain/v1/chat/completions");
        assertThat(base.made)
                .singleElement()
                .satisfies(made -> assertThat(made.closed).isTrue());
        assertThat(base.closed).isFalse(); // the caller's client is the caller's to close
        assertThat(UpstreamConfig.DEFAULT_CONNECT_TIMEOUT).isNotEqualTo(Duration.ofSeconds(2));
    }

    /** Records the version asked for, as the proxy's own clients apply it. */
    static final class Versioned implements UpstreamClient {
        final Recording inner;

        Versioned(Recording inner) {
            this.inner = inner;
        }

        @Override
        public CompletableFuture<UpstreamResponse> send(UpstreamRequest request) {
            return inner.send(request);
        }

        @Override
        public UpstreamClient withSettings(
                Duration connectTimeout, Duration responseTimeout, UpstreamConfig.HttpVersion httpVersion) {
            Recording r = (Recording) inner.withTimeouts(connectTimeout, responseTimeout);
            Recording named = new Recording(r.name + httpVersion, inner.log);
            inner.made.remove(r);
            inner.made.add(named);
            return named;
        }

        @Override
        public void close() {
            inner.close();
        }
    }

    private static Map<String, String> threeUpstreams() {
        Map<String, String> s = new java.util.HashMap<>();
        s.put("api-key", "sk-default");
        s.put("upstream-http-version", "1.1");
        for (String name : List.of("a", "b", "c")) {
            s.put("upstreams." + name + ".kind", "compatible");
            s.put("upstreams." + name + ".base-url", "http://127.0.0.1:1/" + name + "/v1");
            s.put("upstreams." + name + ".models", name + "-*");
        }
        return s;
    }

    @Test
    void upstreamsWithTheSameVersionShareOneClientMadeForThemAndOneAtTheProxysVersionGetsNone() {
        List<String> log = new CopyOnWriteArrayList<>();
        Recording base = new Recording("base", log);
        Map<String, String> s = threeUpstreams();
        s.put("upstreams.a.http-version", "2");
        s.put("upstreams.b.http-version", "2");
        s.put("upstreams.c.http-version", "1.1"); // the proxy's own: its client
        ProxyEngine engine = ProxyEngine.create(ProxySettings.from(s).toConfig(), new Versioned(base));

        for (String name : List.of("a", "b", "c")) {
            EngineFixture.send(engine, EngineFixture.post("/v1/chat/completions", "{\"model\":\"" + name + "-1\"}"));
        }
        engine.close();

        assertThat(log)
                .containsExactly(
                        "base[PT10S,PT10M]HTTP_2 /a/v1/chat/completions",
                        "base[PT10S,PT10M]HTTP_2 /b/v1/chat/completions",
                        "base /c/v1/chat/completions");
        assertThat(base.made)
                .singleElement()
                .satisfies(made -> assertThat(made.closes).isEqualTo(1));
        assertThat(base.closed).isFalse();
    }

    @Test
    void anApplicationsClientThatKnowsNoVersionsKeepsItsOwn() {
        List<String> log = new CopyOnWriteArrayList<>();
        Recording base = new Recording("base", log); // only withTimeouts: what it speaks is its own
        Map<String, String> s = threeUpstreams();
        s.put("upstreams.a.http-version", "2");
        ProxyEngine engine = ProxyEngine.create(ProxySettings.from(s).toConfig(), base);

        EngineFixture.send(engine, EngineFixture.post("/v1/chat/completions", "{\"model\":\"a-1\"}"));
        engine.close();

        assertThat(log).containsExactly("base[PT10S,PT10M] /a/v1/chat/completions");
    }
}
