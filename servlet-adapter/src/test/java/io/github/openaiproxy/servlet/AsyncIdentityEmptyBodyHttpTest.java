package io.github.openaiproxy.servlet;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.access.InMemoryProxyKeyStore;
import io.github.openaiproxy.core.access.Policy;
import io.github.openaiproxy.core.access.ProxyKey;
import io.github.openaiproxy.core.access.ProxyKeyStore;
import io.github.openaiproxy.core.access.ProxyKeys;
import io.github.openaiproxy.core.testing.Upstream;
import io.github.openaiproxy.servlet.support.Http;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A request without a body whose caller is identified off the request thread (a key from a database store, a JWT)
 * is answered. On Tomcat a read listener set from another thread on a body that has already ended (none, or
 * {@code Content-Length: 0}) is never told so; such a {@code POST /sessions}, the usual way a browser creates one,
 * used to hang until the client gave up.
 */
class AsyncIdentityEmptyBodyHttpTest {
    @RegisterExtension
    static WireMockExtension upstream = Upstream.extension();

    static final ObjectMapper JSON = new ObjectMapper();
    static final Duration WAIT = Duration.ofSeconds(5);

    TomcatProxy proxy;
    String key;

    @BeforeEach
    void start() {
        InMemoryProxyKeyStore keys = new InMemoryProxyKeyStore();
        ProxyKeys.NewKey k = ProxyKeys.generate();
        keys.insert(new ProxyKey(
                "key_1", k.displayPrefix(), k.hash(), "web", "team-a", Policy.KEYS, Instant.now(), null, null, null));
        key = k.secret();
        proxy = TomcatProxy.servlet(
                ProxyEngine.builder(Upstream.config(upstream).build())
                        .proxyKeys(blocking(keys))
                        .build());
    }

    @AfterEach
    void stop() {
        proxy.close();
    }

    HttpResponse<String> post(String path, HttpRequest.BodyPublisher body, String... headers) {
        HttpRequest.Builder b = HttpRequest.newBuilder(proxy.uri(path))
                .timeout(WAIT)
                .header("Authorization", "Bearer " + key)
                .POST(body);
        return Http.send(Http.headers(b, headers).build());
    }

    @Test
    void aSessionIsCreatedWithoutABody() throws Exception {
        HttpResponse<String> created = post("/sessions", HttpRequest.BodyPublishers.noBody());

        assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
        assertThat(JSON.readTree(created.body()).get("sessionId").asText()).startsWith("ses_");
    }

    @Test
    void aSessionIsCreatedWithAnEmptyJsonBody() throws Exception {
        HttpResponse<String> created =
                post("/sessions", HttpRequest.BodyPublishers.ofString(""), "Content-Type", "application/json");

        assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
    }

    @Test
    void anEmptyChatBodyIsRefusedNotLeftHanging() {
        HttpResponse<String> refused =
                post("/", HttpRequest.BodyPublishers.ofString(""), "Content-Type", "application/json");

        assertThat(refused.statusCode()).as(refused.body()).isEqualTo(400);
        Upstream.assertNoCalls(upstream);
    }

    /** {@code store} as a database store looks to the engine: looked up on its access threads, slowly. */
    static ProxyKeyStore blocking(ProxyKeyStore store) {
        return new ProxyKeyStore() {
            @Override
            public Optional<ProxyKey> findByHash(String hash) {
                try {
                    Thread.sleep(100); // a database's round trip: the answer comes after the request thread left
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return store.findByHash(hash);
            }

            @Override
            public Optional<ProxyKey> find(String id) {
                return store.find(id);
            }

            @Override
            public List<ProxyKey> list() {
                return store.list();
            }

            @Override
            public void insert(ProxyKey key) {
                store.insert(key);
            }

            @Override
            public boolean update(ProxyKey key) {
                return store.update(key);
            }

            @Override
            public void touch(String id, Instant at) {
                store.touch(id, at);
            }
        };
    }
}
