package io.github.openaiproxy.integration;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.anyRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.equalTo;
import static com.github.tomakehurst.wiremock.client.WireMock.get;
import static com.github.tomakehurst.wiremock.client.WireMock.getRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.wireMockConfig;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import com.nimbusds.jose.JOSEObjectType;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.ECDSASigner;
import com.nimbusds.jose.crypto.RSASSASigner;
import com.nimbusds.jose.jwk.Curve;
import com.nimbusds.jose.jwk.ECKey;
import com.nimbusds.jose.jwk.JWK;
import com.nimbusds.jose.jwk.JWKSet;
import com.nimbusds.jose.jwk.RSAKey;
import com.nimbusds.jose.jwk.gen.ECKeyGenerator;
import com.nimbusds.jose.jwk.gen.RSAKeyGenerator;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.RequestStep;
import io.github.openaiproxy.core.access.AccessConfig;
import io.github.openaiproxy.core.access.Identity;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.servlet.support.Http;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.URI;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Bearer JWTs of an OpenID Connect issuer, over HTTP, with WireMock as both the upstream and the issuer's
 * JWKS: a valid token identifies {@code iss#sub}; a forged, expired, not-yet-valid, wrong-audience or
 * wrong-issuer token gets 401 (never anonymous, even with anonymous callers allowed); a key rotation is
 * followed without a restart; the token never reaches the upstream.
 */
class JwtAccessHttpTest {
    private static final String SERVER_KEY = "sk-server-key-123456";
    private static final String ISSUER = "https://login.example.com";
    private static final String AUDIENCE = "openai-proxy";
    private static final String CHAT = "{\"model\":\"gpt-4o-mini\",\"messages\":[]}";

    @RegisterExtension
    static WireMockExtension server = WireMockExtension.newInstance()
            .options(wireMockConfig().dynamicPort().bindAddress("127.0.0.1"))
            .build();

    private final AtomicReference<Identity> seen = new AtomicReference<>();
    /**
     * The issuer's key, made once: a 2048-bit RSA key takes seconds of a loaded machine. Every test publishes it
     * afresh to the issuer and starts a proxy of its own, which fetches the key set itself.
     */
    private static RSAKey k1;

    private TomcatProxy proxy;

    @BeforeAll
    static void makeKey() throws Exception {
        k1 = new RSAKeyGenerator(2048).keyID("k1").generate();
    }

    @BeforeEach
    void start() throws Exception {
        publish(k1);
        server.stubFor(post("/v1/chat/completions")
                .willReturn(aResponse()
                        .withStatus(200)
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"ok\":true}")));
        ProxyConfig config = ProxyConfig.builder()
                .apiKey(SERVER_KEY)
                .upstream(UpstreamConfig.defaults().withBaseUrl(URI.create(server.baseUrl())))
                .access(AccessConfig.DEFAULTS.withJwt(
                        new AccessConfig.Jwt(ISSUER, AUDIENCE, server.baseUrl() + "/.well-known/jwks.json")))
                .build();
        proxy = TomcatProxy.servlet(ProxyEngine.builder(config)
                .step(RequestStep.Position.BEFORE_UPSTREAM, (ctx, next) -> {
                    seen.set(ctx.identity().orElseThrow());
                    return next.proceed(ctx);
                })
                .build());
    }

    @AfterEach
    void stop() {
        proxy.close();
    }

    @Test
    void aValidTokenIdentifiesItsSubjectAndNeverReachesTheUpstream() throws Exception {
        String token = sign(k1, claims().build());

        assertThat(chat(token).statusCode()).isEqualTo(200);

        assertThat(seen.get()).isEqualTo(Identity.token(ISSUER + "#alice", "users"));
        server.verify(postRequestedFor(urlEqualTo("/v1/chat/completions"))
                .withHeader("Authorization", equalTo("Bearer " + SERVER_KEY)));
        assertThat(server.findAll(postRequestedFor(anyUrl())))
                .allSatisfy(r -> assertThat(r.getHeaders().all().toString()).doesNotContain(token));
    }

    @Test
    void anEs256TokenIsAcceptedToo() throws Exception {
        ECKey ec = new ECKeyGenerator(Curve.P_256).keyID("ec1").generate();
        publish(k1, ec);
        SignedJWT jwt = new SignedJWT(
                new JWSHeader.Builder(JWSAlgorithm.ES256).keyID("ec1").build(), claims().build());
        jwt.sign(new ECDSASigner(ec));

        assertThat(chat(jwt.serialize()).statusCode()).isEqualTo(200);
    }

    @Test
    void forgedExpiredEarlyAndMisaddressedTokensGet401NotAnonymous() throws Exception {
        RSAKey forger = new RSAKeyGenerator(2048).keyID("k1").generate(); // the issuer's kid, another key
        Instant now = Instant.now();
        List<String> refused = List.of(
                sign(forger, claims().build()),
                sign(
                        k1,
                        claims().expirationTime(Date.from(now.minus(Duration.ofMinutes(5))))
                                .build()),
                sign(
                        k1,
                        claims().notBeforeTime(Date.from(now.plus(Duration.ofMinutes(5))))
                                .build()),
                sign(k1, claims().audience("another-app").build()),
                sign(k1, claims().issuer("https://evil.example.com").build()),
                sign(k1, claims().subject(null).build()));

        for (String token : refused) {
            HttpResponse<String> r = chat(token);
            assertThat(r.statusCode()).isEqualTo(401);
            assertThat(r.body()).contains("\"code\":\"invalid_api_key\"").doesNotContain(token);
        }
        assertThat(server.findAll(postRequestedFor(anyUrl()))).isEmpty();
    }

    @Test
    void aRotatedSigningKeyIsPickedUpFromTheJwks() throws Exception {
        assertThat(chat(sign(k1, claims().build())).statusCode()).isEqualTo(200);

        RSAKey k2 = new RSAKeyGenerator(2048).keyID("k2").generate();
        publish(k2); // the issuer rotates: k1 retired, k2 signs

        assertThat(chat(sign(k2, claims().subject("bob").build())).statusCode()).isEqualTo(200);
        assertThat(seen.get().subject()).isEqualTo(ISSUER + "#bob");
        assertThat(server.findAll(getRequestedFor(urlEqualTo("/.well-known/jwks.json"))))
                .hasSize(2);
    }

    @Test
    void aBearerTokenOfAnotherShapeIsNoCredentialOfOurs() {
        // The SDKs' placeholder keys: anonymous (allowed here), not a refused token.
        HttpResponse<String> r = Http.postJson(uri(), CHAT, "Authorization", "Bearer sk-placeholder");
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(seen.get().isAnonymous()).isTrue();
        assertThat(server.findAll(anyRequestedFor(urlEqualTo("/.well-known/jwks.json"))))
                .isEmpty();
    }

    private HttpResponse<String> chat(String token) {
        return Http.postJson(uri(), CHAT, "Authorization", "Bearer " + token);
    }

    private URI uri() {
        return URI.create("http://127.0.0.1:" + proxy.port() + "/v1/chat/completions");
    }

    private static JWTClaimsSet.Builder claims() {
        Instant now = Instant.now();
        return new JWTClaimsSet.Builder()
                .issuer(ISSUER)
                .subject("alice")
                .audience(List.of(AUDIENCE, "other"))
                .issueTime(Date.from(now))
                .expirationTime(Date.from(now.plus(Duration.ofMinutes(5))));
    }

    private static String sign(RSAKey key, JWTClaimsSet claims) throws Exception {
        SignedJWT jwt = new SignedJWT(
                new JWSHeader.Builder(JWSAlgorithm.RS256)
                        .keyID(key.getKeyID())
                        .type(JOSEObjectType.JWT)
                        .build(),
                claims);
        jwt.sign(new RSASSASigner(key));
        return jwt.serialize();
    }

    private static void publish(JWK... keys) {
        JWKSet set = new JWKSet(List.of(keys).stream().map(JWK::toPublicJWK).toList());
        server.stubFor(get("/.well-known/jwks.json")
                .willReturn(aResponse()
                        .withStatus(200)
                        .withHeader("Content-Type", "application/json")
                        .withBody(set.toString())));
    }
}
