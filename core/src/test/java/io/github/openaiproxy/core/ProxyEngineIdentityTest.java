package io.github.openaiproxy.core;

import static com.github.tomakehurst.wiremock.client.WireMock.anyRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static io.github.openaiproxy.core.EngineFixture.CHAT;
import static io.github.openaiproxy.core.EngineFixture.CHAT_COMPLETION;
import static io.github.openaiproxy.core.EngineFixture.config;
import static io.github.openaiproxy.core.EngineFixture.send;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.access.AccessConfig;
import io.github.openaiproxy.core.access.Identity;
import io.github.openaiproxy.core.access.InMemoryProxyKeyStore;
import io.github.openaiproxy.core.access.Policy;
import io.github.openaiproxy.core.access.ProxyKey;
import io.github.openaiproxy.core.access.ProxyKeyStore;
import io.github.openaiproxy.core.access.ProxyKeys;
import io.github.openaiproxy.core.access.Resolution;
import io.github.openaiproxy.core.http.AuthenticatedUser;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.testing.Answer;
import io.github.openaiproxy.testsupport.WireMockUpstream;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The identify step through the engine: proxy keys (declared and stored, cached, expired, revoked), the host
 * application's user, placeholders the SDKs send, anonymous callers, and the one 401 every refusal gets.
 */
class ProxyEngineIdentityTest {
    @RegisterExtension
    static final WireMockUpstream upstream = new WireMockUpstream();

    private static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");

    private final MutableClock clock = new MutableClock(T0);
    private final AtomicReference<Identity> seen = new AtomicReference<>();
    private ProxyEngine engine;

    @BeforeEach
    void answerChat() {
        upstream.server().stubFor(post("/v1/chat/completions").willReturn(okJson(CHAT_COMPLETION)));
    }

    @AfterEach
    void close() {
        if (engine != null) {
            engine.close();
        }
    }

    @Test
    void aStoredKeyIdentifiesItsCallerAndUnderItsPolicy() {
        ProxyKeys.NewKey k = ProxyKeys.generate();
        start(AccessConfig.DEFAULTS, InMemoryProxyKeyStore.of(key("k1", k, "gold", null)));

        Answer a = send(engine, chat("/v1/chat/completions").header("Authorization", "Bearer " + k.secret()));

        assertThat(a.status()).isEqualTo(200);
        assertThat(seen.get().kind()).isEqualTo(Identity.Kind.PROXY_KEY);
        assertThat(seen.get().subject()).isEqualTo("k1");
        assertThat(seen.get().policy()).isEqualTo("gold");
        assertThat(seen.get().ownerId()).contains("proxy_key:k1");
        // the key is never what the upstream sees
        upstream.server()
                .verify(anyRequestedFor(anyUrl())
                        .withHeader(
                                "Authorization",
                                com.github.tomakehurst.wiremock.client.WireMock.equalTo(
                                        "Bearer " + EngineFixture.SERVER_KEY)));
    }

    @Test
    void aDeclaredKeyIsFoundWithoutAStore() {
        ProxyKeys.NewKey k = ProxyKeys.generate();
        AccessConfig access = new AccessConfig(
                AccessConfig.Anonymous.DENY,
                List.of(),
                null,
                Map.of(),
                Map.of(),
                List.of(key("ci", k, Policy.KEYS, null)),
                AccessConfig.Admin.OFF);
        start(access, null);

        assertThat(send(engine, chat("/").header("Authorization", "Bearer " + k.secret()))
                        .status())
                .isEqualTo(200);
        assertThat(seen.get().subject()).isEqualTo("ci");
    }

    @Test
    void unknownMalformedExpiredAndRevokedKeysAllGetTheSame401InEveryMode() {
        ProxyKeys.NewKey good = ProxyKeys.generate();
        ProxyKeys.NewKey expired = ProxyKeys.generate();
        ProxyKeys.NewKey revoked = ProxyKeys.generate();
        CountingStore store = new CountingStore(InMemoryProxyKeyStore.of(
                key("good", good, Policy.KEYS, null),
                key("old", expired, Policy.KEYS, T0.minusSeconds(1)),
                key("gone", revoked, Policy.KEYS, null).revoked(T0.minusSeconds(60))));
        start(AccessConfig.DEFAULTS, store); // anonymous callers allowed: still never a downgrade

        List<String> refused = List.of(
                ProxyKeys.generate().secret(), // unknown
                "opk-short", // malformed
                "opk-" + "!".repeat(43), // malformed, right length
                expired.secret(),
                revoked.secret());
        Answer first = null;
        for (String token : refused) {
            Answer a = send(engine, chat("/v1/chat/completions").header("Authorization", "Bearer " + token));
            assertThat(a.status()).as(token.substring(0, 5)).isEqualTo(401);
            assertThat(a.json().path("error").path("code").asText()).isEqualTo("invalid_api_key");
            assertThat(a.json().path("error").path("type").asText()).isEqualTo("invalid_request_error");
            assertThat(a.text()).doesNotContain(token);
            if (first == null) {
                first = a;
            }
            assertThat(a.text()).as("one answer for every refusal: no oracle").isEqualTo(first.text());
        }
        assertThat(store.lookups.get()).as("malformed keys are never looked up").isEqualTo(3);
        assertThat(upstreamCalls()).isZero();
        // the simple routes answer 401 in their own shape
        Answer simple = send(engine, chat("/").header("Authorization", "Bearer " + expired.secret()));
        assertThat(simple.proxyError(401).path("error").asText()).isEqualTo("Unauthorized");
    }

    @Test
    void keysAreCachedForSecondsSoARevocationElsewhereIsRefusedWithinFive() {
        ProxyKeys.NewKey k = ProxyKeys.generate();
        InMemoryProxyKeyStore shared = InMemoryProxyKeyStore.of(key("k", k, Policy.KEYS, null));
        CountingStore store = new CountingStore(shared);
        start(AccessConfig.DEFAULTS, store);

        assertThat(status(k.secret())).isEqualTo(200);
        assertThat(status(k.secret())).isEqualTo(200);
        assertThat(store.lookups.get())
                .as("the second request is served by the cache")
                .isEqualTo(1);

        // another instance revokes the key in the shared store
        shared.update(shared.find("k").orElseThrow().revoked(clock.instant()));
        clock.advance(Duration.ofSeconds(5));

        assertThat(status(k.secret())).isEqualTo(401);
        assertThat(store.lookups.get()).isEqualTo(2);
    }

    @Test
    void unknownKeysAreRememberedBrieflySoAFloodDoesNotReachTheStore() {
        CountingStore store = new CountingStore(new InMemoryProxyKeyStore());
        start(AccessConfig.DEFAULTS, store);
        String unknown = ProxyKeys.generate().secret();

        for (int i = 0; i < 5; i++) {
            assertThat(status(unknown)).isEqualTo(401);
        }
        assertThat(store.lookups.get()).isEqualTo(1);
        clock.advance(Duration.ofSeconds(3));
        assertThat(status(unknown)).isEqualTo(401);
        assertThat(store.lookups.get()).isEqualTo(2);
    }

    @Test
    void aKeyInUseIsTouchedAtMostOnceAMinute() {
        ProxyKeys.NewKey k = ProxyKeys.generate();
        CountingStore store = new CountingStore(InMemoryProxyKeyStore.of(key("k", k, Policy.KEYS, null)));
        start(AccessConfig.DEFAULTS, store);

        for (int i = 0; i < 3; i++) {
            assertThat(status(k.secret())).isEqualTo(200);
            clock.advance(Duration.ofSeconds(10));
        }
        store.awaitTouches(1);
        assertThat(store.find("k").orElseThrow().lastUsedAt()).isEqualTo(T0);
        clock.advance(Duration.ofSeconds(31));
        assertThat(status(k.secret())).isEqualTo(200);
        store.awaitTouches(2);
        assertThat(store.find("k").orElseThrow().lastUsedAt()).isEqualTo(T0.plusSeconds(61));
        assertThat(store.touches.get()).as("none in between").isEqualTo(2);
    }

    @Test
    void aPlaceholderBearerTokenIsNoCredentialOfOurs() {
        start(AccessConfig.DEFAULTS, new InMemoryProxyKeyStore());

        for (String placeholder : List.of("sk-placeholder", "dummy", "sk-proj-abc.def", "Bearer")) {
            assertThat(status(placeholder)).as(placeholder).isEqualTo(200);
            assertThat(seen.get().isAnonymous()).isTrue();
        }
    }

    @Test
    void anonymousCallersPassUnderTheirPolicyOrGet401WhenDenied() {
        start(AccessConfig.DEFAULTS, null);
        Answer allowed = send(engine, chat("/v1/chat/completions").remoteAddress("192.0.2.7"));
        assertThat(allowed.status()).isEqualTo(200);
        assertThat(seen.get()).isEqualTo(Identity.anonymous("192.0.2.7", Policy.ANONYMOUS));
        engine.close();

        start(AccessConfig.DEFAULTS.withAnonymous(AccessConfig.Anonymous.DENY), null);
        Answer denied = send(engine, chat("/v1/chat/completions").header("Authorization", "Bearer sk-dummy"));
        assertThat(denied.status()).isEqualTo(401);
        assertThat(denied.header("WWW-Authenticate")).isEqualTo("Bearer");
        assertThat(denied.json().path("error").path("code").asText()).isEqualTo("invalid_api_key");
        assertThat(upstreamCalls()).isEqualTo(1);
    }

    @Test
    void theHostApplicationsUserRunsUnderTheFirstPolicyOfItsRoles() {
        AccessConfig access = new AccessConfig(
                AccessConfig.Anonymous.DENY,
                List.of(),
                null,
                Map.of("admins", "unlimited"),
                Map.of(),
                List.of(),
                AccessConfig.Admin.OFF);
        start(access, null);

        Answer plain = send(engine, chat("/").user(new AuthenticatedUser("alice", Set.of("staff")::contains)));
        assertThat(plain.status()).isEqualTo(200);
        assertThat(seen.get()).isEqualTo(Identity.user("alice", Policy.USERS));

        send(engine, chat("/").user(new AuthenticatedUser("bob", Set.of("admins")::contains)));
        assertThat(seen.get()).isEqualTo(Identity.user("bob", "unlimited"));
    }

    @Test
    void aLoginTheBrowserSendsForAnotherOriginIsNotTheUsersUnlessCorsAllowsCredentials() {
        start(AccessConfig.DEFAULTS, null);
        AuthenticatedUser alice = new AuthenticatedUser("alice", role -> false);
        Identity asAlice = Identity.user("alice", Policy.USERS);
        Identity anonymous = Identity.anonymous("192.0.2.7", Policy.ANONYMOUS);

        // Another site's page posting with no-cors and the session cookie: never spends as alice.
        for (String site : List.of("cross-site", "same-site", "Cross-Site")) {
            send(
                    engine,
                    chat("/v1/chat/completions")
                            .user(alice)
                            .remoteAddress("192.0.2.7")
                            .header("Sec-Fetch-Site", site));
            assertThat(seen.get()).as(site).isEqualTo(anonymous);
        }
        // Her own pages, clients that are no browser, and a bearer credential a page sets itself stay hers.
        send(engine, chat("/v1/chat/completions").user(alice).header("Sec-Fetch-Site", "same-origin"));
        assertThat(seen.get()).isEqualTo(asAlice);
        send(engine, chat("/v1/chat/completions").user(alice).header("Sec-Fetch-Site", "none"));
        assertThat(seen.get()).isEqualTo(asAlice);
        send(engine, chat("/v1/chat/completions").user(alice));
        assertThat(seen.get()).isEqualTo(asAlice);
        send(
                engine,
                chat("/v1/chat/completions")
                        .user(alice)
                        .header("Sec-Fetch-Site", "cross-site")
                        .header("Authorization", "Bearer eyJ.from.the.page"));
        assertThat(seen.get()).isEqualTo(asAlice);
        engine.close();

        // With access.anonymous=deny the cross-site request is refused, not spent as hers.
        start(AccessConfig.DEFAULTS.withAnonymous(AccessConfig.Anonymous.DENY), null);
        int before = upstreamCalls();
        Answer refused = send(engine, chat("/v1/chat/completions").user(alice).header("Sec-Fetch-Site", "cross-site"));
        assertThat(refused.status()).isEqualTo(401);
        assertThat(upstreamCalls()).isEqualTo(before);
        engine.close();

        // cors.allow-credentials lets the listed origins use the login: then it is hers.
        engine = ProxyEngine.builder(config(upstream.baseUrl())
                        .access(withTestPolicies(AccessConfig.DEFAULTS))
                        .cors(io.github.openaiproxy.core.cors.CorsConfig.builder()
                                .origins(List.of("https://chat.example.com"))
                                .allowCredentials(true)
                                .build())
                        .build())
                .clock(clock)
                .step(RequestStep.Position.BEFORE_UPSTREAM, (ctx, next) -> {
                    seen.set(ctx.identity().orElseThrow());
                    return next.proceed(ctx);
                })
                .build();
        send(
                engine,
                chat("/v1/chat/completions")
                        .user(alice)
                        .header("Origin", "https://chat.example.com")
                        .header("Sec-Fetch-Site", "same-site"));
        assertThat(seen.get()).isEqualTo(asAlice);
    }

    @Test
    void onOneRequestAKeyWinsOverTheLoginAndAFailingKeyIsNotSavedByIt() {
        ProxyKeys.NewKey k = ProxyKeys.generate();
        ProxyKeys.NewKey gone = ProxyKeys.generate();
        start(
                AccessConfig.DEFAULTS.withAnonymous(AccessConfig.Anonymous.DENY),
                InMemoryProxyKeyStore.of(
                        key("k1", k, "gold", null),
                        key("k2", gone, "gold", null).revoked(T0.minusSeconds(1))));
        AuthenticatedUser alice = new AuthenticatedUser("alice", role -> false);

        // The README's order: a proxy key, then the login, then a JWT.
        assertThat(send(
                                engine,
                                chat("/v1/chat/completions")
                                        .user(alice)
                                        .header("Authorization", "Bearer " + k.secret()))
                        .status())
                .isEqualTo(200);
        assertThat(seen.get()).isEqualTo(Identity.proxyKey(key("k1", k, "gold", null)));
        // A placeholder (the SDKs always send a key) leaves the login to decide.
        assertThat(send(engine, chat("/v1/chat/completions").user(alice).header("Authorization", "Bearer sk-dummy"))
                        .status())
                .isEqualTo(200);
        assertThat(seen.get()).isEqualTo(Identity.user("alice", Policy.USERS));
        // A revoked, unknown or malformed key is refused, logged in or not: never taken as the login.
        int before = upstreamCalls();
        for (String token : List.of(gone.secret(), ProxyKeys.generate().secret(), "opk-short")) {
            assertThat(send(engine, chat("/v1/chat/completions").user(alice).header("Authorization", "Bearer " + token))
                            .status())
                    .as(token.substring(0, 5))
                    .isEqualTo(401);
        }
        assertThat(upstreamCalls()).isEqualTo(before);
    }

    @Test
    void anApplicationsOwnSourceIsAskedFirstAndTheBuiltInOnesAfterIt() {
        ProxyKeys.NewKey k = ProxyKeys.generate();
        engine = ProxyEngine.builder(config(upstream.baseUrl())
                        .access(withTestPolicies(AccessConfig.DEFAULTS.withAnonymous(AccessConfig.Anonymous.DENY)))
                        .build())
                .clock(clock)
                .proxyKeys(InMemoryProxyKeyStore.of(key("k1", k, "gold", null)))
                .identitySource(request ->
                        java.util.concurrent.CompletableFuture.completedFuture(request.header("X-Gateway-User")
                                .map(name -> name.equals("mallory")
                                        ? Resolution.rejected("gateway_refused")
                                        : Resolution.identified(Identity.user(name, "silver")))
                                .orElse(Resolution.ABSENT)))
                .step(RequestStep.Position.BEFORE_UPSTREAM, (ctx, next) -> {
                    seen.set(ctx.identity().orElseThrow());
                    return next.proceed(ctx);
                })
                .build();

        assertThat(send(engine, chat("/v1/chat/completions").header("X-Gateway-User", "carol"))
                        .status())
                .isEqualTo(200);
        assertThat(seen.get()).isEqualTo(Identity.user("carol", "silver"));
        assertThat(send(engine, chat("/v1/chat/completions").header("Authorization", "Bearer " + k.secret()))
                        .status())
                .as("absent from the application's source: the built-in ones decide")
                .isEqualTo(200);
        assertThat(seen.get().kind()).isEqualTo(Identity.Kind.PROXY_KEY);
        assertThat(send(engine, chat("/v1/chat/completions").header("X-Gateway-User", "mallory"))
                        .status())
                .isEqualTo(401);
        assertThat(send(engine, chat("/v1/chat/completions")).status()).isEqualTo(401);
    }

    @Test
    void forwardingHeadersCountOnlyFromATrustedPeer() {
        start(AccessConfig.DEFAULTS.withTrustedProxies(List.of("10.0.0.0/8")), null);

        send(engine, chat("/").remoteAddress("198.51.100.9").header("X-Forwarded-For", "203.0.113.5"));
        assertThat(seen.get().subject())
                .as("an untrusted peer's header is ignored")
                .isEqualTo("198.51.100.9");

        send(engine, chat("/").remoteAddress("10.1.2.3").header("X-Forwarded-For", "6.6.6.6, 203.0.113.5, 10.9.9.9"));
        assertThat(seen.get().subject())
                .as("the first untrusted hop from the right")
                .isEqualTo("203.0.113.5");
    }

    @Test
    void anAnonymousIpv6CallerIsKnownByItsSlash64() {
        start(AccessConfig.DEFAULTS, null);
        send(engine, chat("/").remoteAddress("2001:db8:1:2:aaaa:bbbb:cccc:dddd"));
        Identity first = seen.get();
        send(engine, chat("/").remoteAddress("2001:db8:1:2::1"));
        assertThat(seen.get()).isEqualTo(first);
        assertThat(first.subject()).isEqualTo("2001:db8:1:2:0:0:0:0/64");

        send(engine, chat("/").remoteAddress("2001:db8:1:3::1"));
        assertThat(seen.get().subject()).isEqualTo("2001:db8:1:3:0:0:0:0/64");
        send(engine, chat("/").remoteAddress("::ffff:192.0.2.7"));
        assertThat(seen.get().subject())
                .as("an IPv4-mapped address is the IPv4 address")
                .isEqualTo("192.0.2.7");
        send(engine, chat("/").remoteAddress("192.0.2.8"));
        assertThat(seen.get().subject()).isEqualTo("192.0.2.8");
    }

    @Test
    void aModuleRoutesSubRequestRunsUnderItsClientRequestsIdentity() {
        ProxyKeys.NewKey k = ProxyKeys.generate();
        CountingStore store = new CountingStore(InMemoryProxyKeyStore.of(key("k", k, "gold", null)));
        engine = ProxyEngine.builder(config(upstream.baseUrl())
                        .access(withTestPolicies(AccessConfig.DEFAULTS.withAnonymous(AccessConfig.Anonymous.DENY)))
                        .build())
                .clock(clock)
                .proxyKeys(store)
                .route(ProxyEngineCustomRouteTest.ECHO_CHAT)
                .step(RequestStep.Position.BEFORE_UPSTREAM, (ctx, next) -> {
                    seen.set(ctx.identity().orElseThrow());
                    return next.proceed(ctx);
                })
                .build();

        // The sub-request the route dispatches carries no credential of its own.
        Answer a = send(engine, EngineFixture.post("/echo-chat", CHAT).header("Authorization", "Bearer " + k.secret()));

        assertThat(a.status()).isEqualTo(201);
        assertThat(seen.get().subject()).isEqualTo("k");
        assertThat(seen.get().policy()).isEqualTo("gold");
        assertThat(store.lookups.get())
                .as("identified once, for the client request")
                .isEqualTo(1);
        assertThat(send(engine, EngineFixture.post("/echo-chat", CHAT)).status())
                .isEqualTo(401);
    }

    @Test
    void aStoreThatFailsGets503NotA401() {
        ProxyKeyStore broken = new CountingStore(new InMemoryProxyKeyStore()) {
            @Override
            public Optional<ProxyKey> findByHash(String hash) {
                throw new IllegalStateException("database down");
            }
        };
        start(AccessConfig.DEFAULTS, broken);

        assertThat(status(ProxyKeys.generate().secret())).isEqualTo(503);
    }

    @Test
    void oneClientFloodingRandomKeysCannotTakeEveryonesCredentialChecks() throws Exception {
        // Each random key is a store lookup on the engine's four access threads (their queue holds 1,000): a client
        // that sends them faster than the store answers took every place, and every other caller whose key was not
        // cached got 503 until it stopped. One client now has as many checks waiting as its cap of upstream calls.
        ProxyKeys.NewKey good = ProxyKeys.generate();
        java.util.concurrent.CountDownLatch storeAnswers = new java.util.concurrent.CountDownLatch(1);
        CountingStore slow = new CountingStore(InMemoryProxyKeyStore.of(key("good", good, Policy.KEYS, null))) {
            @Override
            public Optional<ProxyKey> findByHash(String hash) {
                try {
                    storeAnswers.await(10, java.util.concurrent.TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return super.findByHash(hash);
            }
        };
        start(AccessConfig.DEFAULTS, slow);

        List<java.util.concurrent.CompletableFuture<io.github.openaiproxy.core.http.ProxyResponse>> flood =
                new java.util.ArrayList<>();
        for (int i = 0; i < 1_100; i++) {
            flood.add(engine.handle(chat("/v1/chat/completions")
                    .header("Authorization", "Bearer " + ProxyKeys.generate().secret())
                    .remoteAddress("203.0.113.66")
                    .build()));
        }
        java.util.concurrent.CompletableFuture<io.github.openaiproxy.core.http.ProxyResponse> other =
                engine.handle(chat("/v1/chat/completions")
                        .header("Authorization", "Bearer " + good.secret())
                        .remoteAddress("198.51.100.7")
                        .build());
        storeAnswers.countDown();

        assertThat(Answer.of(other.get(10, java.util.concurrent.TimeUnit.SECONDS))
                        .status())
                .isEqualTo(200);
        List<Integer> statuses = new java.util.ArrayList<>();
        for (var f : flood) {
            statuses.add(
                    Answer.of(f.get(10, java.util.concurrent.TimeUnit.SECONDS)).status());
        }
        int cap = ProxyConfig.DEFAULT_MAX_CONCURRENT_UPSTREAM_CALLS_PER_CLIENT;
        assertThat(statuses.stream().filter(s -> s == 401).count()).isEqualTo(cap);
        assertThat(statuses.stream().filter(s -> s == 429).count()).isEqualTo(1_100 - cap);
        assertThat(slow.lookups.get()).isEqualTo(cap + 1);
    }

    private int status(String token) {
        return send(engine, chat("/v1/chat/completions").header("Authorization", "Bearer " + token))
                .status();
    }

    /** The policies the tests' keys and roles name, so the authorize step (which fails closed) lets them pass. */
    private static AccessConfig withTestPolicies(AccessConfig access) {
        Map<String, Policy> policies = new java.util.HashMap<>(access.policies());
        for (String name : List.of("gold", "unlimited", "silver")) {
            policies.putIfAbsent(name, Policy.unrestricted(name));
        }
        return access.withPolicies(policies);
    }

    private void start(AccessConfig access, ProxyKeyStore store) {
        ProxyEngine.Builder b = ProxyEngine.builder(config(upstream.baseUrl())
                        .access(withTestPolicies(access))
                        .build())
                .clock(clock)
                .step(RequestStep.Position.BEFORE_UPSTREAM, (ctx, next) -> {
                    seen.set(ctx.identity().orElseThrow());
                    return next.proceed(ctx);
                });
        if (store != null) {
            b.proxyKeys(store);
        }
        engine = b.build();
    }

    private static ProxyRequest.Builder chat(String path) {
        return EngineFixture.post(path, CHAT.replace("{", "{\"model\":\"gpt-4o-mini\","));
    }

    private ProxyKey key(String id, ProxyKeys.NewKey k, String policy, Instant expires) {
        return new ProxyKey(id, k.displayPrefix(), k.hash(), id, "owner-" + id, policy, T0, expires, null, null);
    }

    private static int upstreamCalls() {
        return upstream.server().findAll(anyRequestedFor(anyUrl())).size();
    }

    /** A store that counts its lookups and touches, and runs them on a pool (not in-memory: the engine's threads). */
    static class CountingStore implements ProxyKeyStore {
        final ProxyKeyStore inner;
        final AtomicInteger lookups = new AtomicInteger();
        final AtomicInteger touches = new AtomicInteger();

        CountingStore(ProxyKeyStore inner) {
            this.inner = inner;
        }

        @Override
        public Optional<ProxyKey> findByHash(String hash) {
            lookups.incrementAndGet();
            return inner.findByHash(hash);
        }

        @Override
        public Optional<ProxyKey> find(String id) {
            return inner.find(id);
        }

        @Override
        public List<ProxyKey> list() {
            return inner.list();
        }

        @Override
        public void insert(ProxyKey key) {
            inner.insert(key);
        }

        @Override
        public boolean update(ProxyKey key) {
            return inner.update(key);
        }

        @Override
        public synchronized void touch(String id, Instant at) {
            inner.touch(id, at);
            touches.incrementAndGet();
            notifyAll();
        }

        /** Waits (a latch on the touch count) until the engine's threads have recorded this many uses. */
        synchronized void awaitTouches(int n) {
            long end = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            while (touches.get() < n) {
                long left = end - System.nanoTime();
                assertThat(left).as("touches: " + touches.get()).isPositive();
                try {
                    wait(Math.max(1, left / 1_000_000));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new AssertionError(e);
                }
            }
        }
    }

    /** A clock the test moves. */
    static final class MutableClock extends Clock {
        private volatile Instant now;

        MutableClock(Instant now) {
            this.now = now;
        }

        void advance(Duration d) {
            now = now.plus(d);
        }

        @Override
        public ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return now;
        }
    }
}
