package io.github.openaiproxy.core;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.anyRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.get;
import static com.github.tomakehurst.wiremock.client.WireMock.getRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static io.github.openaiproxy.core.EngineFixture.CHAT_COMPLETION;
import static org.assertj.core.api.Assertions.assertThat;

import com.nimbusds.jose.JOSEObjectType;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.ECDSASigner;
import com.nimbusds.jose.crypto.MACSigner;
import com.nimbusds.jose.crypto.RSASSASigner;
import com.nimbusds.jose.jwk.Curve;
import com.nimbusds.jose.jwk.ECKey;
import com.nimbusds.jose.jwk.JWKSet;
import com.nimbusds.jose.jwk.RSAKey;
import com.nimbusds.jose.jwk.gen.ECKeyGenerator;
import com.nimbusds.jose.jwk.gen.RSAKeyGenerator;
import com.nimbusds.jose.util.Base64URL;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.PlainJWT;
import com.nimbusds.jwt.SignedJWT;
import io.github.openaiproxy.core.access.AccessConfig;
import io.github.openaiproxy.core.testing.Answer;
import io.github.openaiproxy.testsupport.WireMockUpstream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Bearer JWTs as an attacker crafts them, through the engine, with WireMock as the upstream and as the issuer's
 * JWKS: unsigned tokens, algorithm confusion, keys the token brings or points to, claims missing or out of
 * range; and a JWKS that is down, huge or slow. Every forged token is 401 (never anonymous, never a 5xx, never
 * a fetch of an address the token names); a JWKS that cannot be read is 503 for every caller, however often
 * they retry, never a 401 that tells a client its valid token is bad.
 */
class JwtHostileTokensTest {
    @RegisterExtension
    static final WireMockUpstream upstream = new WireMockUpstream();

    private static final String ISSUER = "https://login.example.com";
    private static final String AUDIENCE = "openai-proxy";
    private static final String JWKS = "/.well-known/jwks.json";
    private static final String CHAT = "{\"model\":\"gpt-4o-mini\",\"messages\":[]}";

    /**
     * The class's RSA keys, made once: a 2048-bit key takes about a second to generate in a C1-only test JVM, and
     * every test made its own. Each test still starts its own engine, which has seen no key before.
     */
    private record Keys(RSAKey issuer, RSAKey attacker, RSAKey other) {}

    private static Keys issuerKeys;

    private ProxyEngine engine;

    @BeforeAll
    static void generateKeys() throws Exception {
        issuerKeys = new Keys(
                new RSAKeyGenerator(2048).keyID("k1").generate(),
                new RSAKeyGenerator(2048).keyID("k1").generate(),
                new RSAKeyGenerator(2048).keyID("other").generate());
    }

    @AfterEach
    void stop() {
        if (engine != null) {
            engine.close();
        }
    }

    private void start() {
        upstream.server().stubFor(post("/v1/chat/completions").willReturn(okJson(CHAT_COMPLETION)));
        URI base = upstream.baseUrl();
        engine = ProxyEngine.builder(EngineFixture.config(base)
                        .access(AccessConfig.DEFAULTS.withJwt(new AccessConfig.Jwt(
                                ISSUER, AUDIENCE, base.resolve(JWKS).toString())))
                        .build())
                .build();
    }

    private static void publish(JWKSet set) {
        upstream.server()
                .stubFor(get(JWKS).willReturn(okJson(set.toPublicJWKSet().toString())));
    }

    @Test
    void forgedTokensAre401AndTheAddressesTheyNameAreNeverFetched() throws Exception {
        RSAKey issuerKey = issuerKeys.issuer();
        publish(new JWKSet(issuerKey));
        start();
        assertThat(status(rs256(issuerKey, claims().build())))
                .as("the genuine token")
                .isEqualTo(200);

        RSAKey attacker = issuerKeys.attacker();
        String attackerJwks = upstream.baseUrl().resolve("/attacker/jwks.json").toString();
        upstream.server()
                .stubFor(get("/attacker/jwks.json")
                        .willReturn(okJson(new JWKSet(attacker).toPublicJWKSet().toString())));
        byte[] publicKeyAsSecret = issuerKey.toPublicJWK().toJSONString().getBytes(StandardCharsets.UTF_8);
        byte[] der = issuerKey.toRSAPublicKey().getEncoded();

        List<String> forged = List.of(
                // alg=none, with and without a trailing dot, and "None"
                new PlainJWT(claims().build()).serialize(),
                unsigned("{\"alg\":\"none\",\"kid\":\"k1\"}"),
                unsigned("{\"alg\":\"None\",\"kid\":\"k1\"}"),
                // HS256 "signed" with the issuer's public key (the classic confusion), as JWK JSON and as DER
                hs256("k1", padded(publicKeyAsSecret), claims().build()),
                hs256("k1", padded(der), claims().build()),
                // the token brings its own key, or points to one
                withHeader(
                        attacker,
                        new JWSHeader.Builder(JWSAlgorithm.RS256)
                                .keyID("k1")
                                .jwk(attacker.toPublicJWK())
                                .build()),
                withHeader(
                        attacker,
                        new JWSHeader.Builder(JWSAlgorithm.RS256)
                                .keyID("k1")
                                .jwkURL(URI.create(attackerJwks))
                                .build()),
                withHeader(
                        attacker,
                        new JWSHeader.Builder(JWSAlgorithm.RS256)
                                .keyID("k1")
                                .x509CertURL(URI.create(attackerJwks))
                                .build()),
                // the issuer's kid, the attacker's key; an unknown kid
                rs256(attacker, claims().build()),
                rs256(issuerKeys.other(), claims().build()),
                // an ES256 token where the issuer's key is RSA
                es256(new ECKeyGenerator(Curve.P_256).keyID("k1").generate(), claims().build()),
                // a genuine signature over other claims
                swapClaims(
                        rs256(issuerKey, claims().build()),
                        claims().subject("admin").build()),
                // claims missing or out of range
                rs256(issuerKey, claims().expirationTime(null).build()),
                rs256(issuerKey, claims().audience((String) null).build()),
                rs256(issuerKey, claims().audience(List.of("another-app")).build()),
                rs256(issuerKey, claims().issuer(null).build()),
                rs256(issuerKey, claims().issuer(ISSUER + "/").build()),
                rs256(issuerKey, claims().subject(null).build()),
                rs256(
                        issuerKey,
                        claims().expirationTime(Date.from(Instant.now().minusSeconds(31 + 5)))
                                .build()),
                rs256(
                        issuerKey,
                        claims().notBeforeTime(Date.from(Instant.now().plusSeconds(31 + 5)))
                                .build()));

        for (String token : forged) {
            Answer a = EngineFixture.send(
                    engine,
                    EngineFixture.post("/v1/chat/completions", CHAT).header("Authorization", "Bearer " + token));
            assertThat(a.status()).as(token).isEqualTo(401);
            assertThat(a.text()).contains("invalid_api_key").doesNotContain(token);
        }
        upstream.server().verify(0, anyRequestedFor(urlEqualTo("/attacker/jwks.json")));
        upstream.server().verify(1, postRequestedFor(urlEqualTo("/v1/chat/completions")));
        assertThat(upstream.server().findAll(getRequestedFor(urlEqualTo(JWKS))))
                .as("unknown key ids refetch the JWKS, rate-limited")
                .hasSizeLessThanOrEqualTo(3);
    }

    @Test
    void aTokenTheIssuerSignedThatNamesNoOneOrTwoSubjectsIs401() throws Exception {
        RSAKey issuerKey = issuerKeys.issuer();
        publish(new JWKSet(issuerKey));
        start();
        long exp = Instant.now().plusSeconds(300).getEpochSecond();
        String claims = "\"iss\":\"" + ISSUER + "\",\"aud\":\"" + AUDIENCE + "\",\"exp\":" + exp;
        JWSHeader header = new JWSHeader.Builder(JWSAlgorithm.RS256).keyID("k1").build();

        assertThat(status(raw(issuerKey, header, "{" + claims + ",\"sub\":\"alice\"}")))
                .as("the genuine token, signed over raw JSON")
                .isEqualTo(200);
        // A blank subject would make every such token the one caller iss#: one budget, one owner of
        // sessions and images, whoever holds it.
        assertThat(status(raw(issuerKey, header, "{" + claims + ",\"sub\":\"\"}")))
                .as("empty sub")
                .isEqualTo(401);
        assertThat(status(raw(issuerKey, header, "{" + claims + ",\"sub\":\"  \"}")))
                .as("blank sub")
                .isEqualTo(401);
        // Two subjects (or issuers): a parser that keeps the first and one that keeps the last disagree on who
        // this is, so the token names no one.
        assertThat(status(raw(issuerKey, header, "{" + claims + ",\"sub\":\"alice\",\"sub\":\"admin\"}")))
                .as("duplicate sub")
                .isEqualTo(401);
        assertThat(status(raw(
                        issuerKey, header, "{\"iss\":\"https://evil.example.com\"," + claims + ",\"sub\":\"alice\"}")))
                .as("duplicate iss")
                .isEqualTo(401);
        // A critical header parameter the proxy does not understand must not be ignored (RFC 7515, 4.1.11).
        assertThat(status(raw(
                        issuerKey,
                        new JWSHeader.Builder(JWSAlgorithm.RS256)
                                .keyID("k1")
                                .criticalParams(java.util.Set.of("x-proof"))
                                .customParam("x-proof", "dpop")
                                .build(),
                        "{" + claims + ",\"sub\":\"alice\"}")))
                .as("unknown crit")
                .isEqualTo(401);
    }

    @Test
    void aTokenWithinTheClockSkewIsAccepted() throws Exception {
        RSAKey issuerKey = issuerKeys.issuer();
        publish(new JWKSet(issuerKey));
        start();
        Instant now = Instant.now();
        assertThat(status(rs256(
                        issuerKey,
                        claims().expirationTime(Date.from(now.minusSeconds(10))).build())))
                .isEqualTo(200);
        assertThat(status(rs256(
                        issuerKey,
                        claims().notBeforeTime(Date.from(now.plusSeconds(10))).build())))
                .isEqualTo(200);
        assertThat(status(rs256(
                        issuerKey,
                        claims().issueTime(Date.from(now.plusSeconds(10))).build())))
                .as("iat a little ahead: the issuer's clock")
                .isEqualTo(200);
    }

    /**
     * A token issued in the future, past the clock skew, is a forged or misconfigured issuer's (one that could mint
     * tokens valid from any date): 401 with the very body of any other bad token, so that it tells the client
     * nothing more; with or without an {@code nbf} that hides it.
     */
    @Test
    void aTokenIssuedInTheFutureIs401AsAnyBadToken() throws Exception {
        RSAKey issuerKey = issuerKeys.issuer();
        publish(new JWKSet(issuerKey));
        start();
        Instant later = Instant.now().plus(Duration.ofDays(365));
        String expired = rs256(
                issuerKey,
                claims().expirationTime(Date.from(Instant.now().minusSeconds(120)))
                        .build());
        Answer bad = send(expired);
        assertThat(bad.status()).isEqualTo(401);

        for (String token : List.of(
                rs256(
                        issuerKey,
                        claims().issueTime(Date.from(later))
                                .expirationTime(Date.from(later.plusSeconds(300)))
                                .build()),
                rs256(
                        issuerKey,
                        claims().issueTime(Date.from(Instant.now().plusSeconds(31 + 5)))
                                .build()),
                rs256(
                        issuerKey,
                        claims().issueTime(Date.from(later)).notBeforeTime(null).build()))) {
            Answer a = send(token);
            assertThat(a.status()).as(token).isEqualTo(401);
            assertThat(a.text()).as("no oracle").isEqualTo(bad.text());
        }
        upstream.server().verify(0, postRequestedFor(urlEqualTo("/v1/chat/completions")));
    }

    private Answer send(String token) {
        return EngineFixture.send(
                engine, EngineFixture.post("/v1/chat/completions", CHAT).header("Authorization", "Bearer " + token));
    }

    @Test
    void aJwksThatIsDownIs503ForEveryCallNotA401OnceTheRefetchesAreUsedUp() throws Exception {
        RSAKey issuerKey = issuerKeys.issuer();
        upstream.server().stubFor(get(JWKS).willReturn(aResponse().withStatus(500)));
        start();
        String valid = rs256(issuerKey, claims().build());

        for (int i = 0; i < 5; i++) {
            assertThat(status(valid)).as("call " + (i + 1)).isEqualTo(503);
        }
        upstream.server().verify(0, postRequestedFor(urlEqualTo("/v1/chat/completions")));
        assertThat(upstream.server().findAll(getRequestedFor(urlEqualTo(JWKS))))
                .as("the JWKS is not hammered while it is down: the refetches stay rate-limited")
                .hasSizeLessThanOrEqualTo(2);
    }

    @Test
    void aJwksOverTheSizeLimitIs503AndNotRead() throws Exception {
        RSAKey issuerKey = issuerKeys.issuer();
        upstream.server()
                .stubFor(get(JWKS)
                        .willReturn(aResponse()
                                .withHeader("Content-Type", "application/json")
                                .withBody("{\"keys\":[" + " ".repeat(1024 * 1024) + "]}")));
        start();
        String valid = rs256(issuerKey, claims().build());
        for (int i = 0; i < 3; i++) {
            assertThat(status(valid)).isEqualTo(503);
        }
    }

    @Test
    void aSlowJwksIsGivenUpOnNotWaitedFor() throws Exception {
        RSAKey issuerKey = issuerKeys.issuer();
        upstream.server()
                .stubFor(get(JWKS)
                        .willReturn(
                                okJson(new JWKSet(issuerKey).toPublicJWKSet().toString())
                                        .withFixedDelay(30_000)));
        start();
        long started = System.nanoTime();
        assertThat(status(rs256(issuerKey, claims().build()))).isEqualTo(503);
        assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofSeconds(15));
    }

    /**
     * A forged token's header is the client's text: what the JWT library says about it (an unexpected {@code typ},
     * an unknown algorithm) reaches the access log at DEBUG, and its CR, LF and ANSI escapes must not, or a client
     * could write log lines of its own (or commands to the operator's terminal).
     */
    @Test
    void aForgedTokensHeaderWritesNoControlCharacterIntoTheLog() throws Exception {
        RSAKey issuerKey = issuerKeys.issuer();
        publish(new JWKSet(issuerKey));
        start();
        String forged = "\r\n2026-12-07 ERROR admin key leaked\u001b[2J\u001b]0;owned\u0007";
        String json = forged.replace("\r", "\\r")
                .replace("\n", "\\n")
                .replace("\u001b", "\\u001b")
                .replace("\u0007", "\\u0007");
        List<String> tokens = List.of(
                withHeader(
                        issuerKeys.attacker(),
                        new JWSHeader.Builder(JWSAlgorithm.RS256)
                                .keyID("k1")
                                .type(new JOSEObjectType("JWT" + forged))
                                .build()),
                unsigned("{\"alg\":\"RS256" + json + "\",\"kid\":\"k1\"}"),
                unsigned("{\"alg\":\"RS256\",\"kid\":\"k1\",\"crit\":[\"x" + json + "\"],\"x" + json + "\":1}"),
                unsigned("{\"alg\":\"RS256\",\"kid\":\"k1\",\"typ\":\"x" + json + "\"}"));
        List<String> logged = new java.util.concurrent.CopyOnWriteArrayList<>();
        java.util.logging.Handler handler = new java.util.logging.Handler() {
            @Override
            public void publish(java.util.logging.LogRecord r) {
                logged.add(new java.util.logging.SimpleFormatter().formatMessage(r));
            }

            @Override
            public void flush() {}

            @Override
            public void close() {}
        };
        handler.setLevel(java.util.logging.Level.ALL);
        java.util.logging.Logger logs = java.util.logging.Logger.getLogger("io.github.openaiproxy");
        java.util.logging.Level before = logs.getLevel();
        logs.setLevel(java.util.logging.Level.ALL);
        logs.addHandler(handler);
        try {
            for (String token : tokens) {
                assertThat(status(token)).isEqualTo(401);
            }
        } finally {
            logs.removeHandler(handler);
            logs.setLevel(before);
        }
        assertThat(logged).anySatisfy(line -> assertThat(line).startsWith("JWT refused"));
        assertThat(logged)
                .allSatisfy(line -> assertThat(
                                line.chars().filter(c -> c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0)))
                        .as(line)
                        .isEmpty());
    }

    // ---- tokens

    private int status(String token) {
        return EngineFixture.send(
                        engine,
                        EngineFixture.post("/v1/chat/completions", CHAT).header("Authorization", "Bearer " + token))
                .status();
    }

    private static JWTClaimsSet.Builder claims() {
        Instant now = Instant.now();
        return new JWTClaimsSet.Builder()
                .issuer(ISSUER)
                .subject("alice")
                .audience(AUDIENCE)
                .issueTime(Date.from(now))
                .expirationTime(Date.from(now.plus(Duration.ofMinutes(5))));
    }

    private static String rs256(RSAKey key, JWTClaimsSet claims) throws Exception {
        return withHeader(
                key,
                new JWSHeader.Builder(JWSAlgorithm.RS256)
                        .keyID(key.getKeyID())
                        .type(JOSEObjectType.JWT)
                        .build(),
                claims);
    }

    private static String withHeader(RSAKey key, JWSHeader header) throws Exception {
        return withHeader(key, header, claims().build());
    }

    private static String withHeader(RSAKey key, JWSHeader header, JWTClaimsSet claims) throws Exception {
        SignedJWT jwt = new SignedJWT(header, claims);
        jwt.sign(new RSASSASigner(key));
        return jwt.serialize();
    }

    /** A token the key really signed, over claims JSON exactly as given (duplicate keys and all). */
    private static String raw(RSAKey key, JWSHeader header, String claimsJson) throws Exception {
        com.nimbusds.jose.JWSObject jws =
                new com.nimbusds.jose.JWSObject(header, new com.nimbusds.jose.Payload(claimsJson));
        jws.sign(new RSASSASigner(key));
        return jws.serialize();
    }

    private static String es256(ECKey key, JWTClaimsSet claims) throws Exception {
        SignedJWT jwt = new SignedJWT(
                new JWSHeader.Builder(JWSAlgorithm.ES256).keyID(key.getKeyID()).build(), claims);
        jwt.sign(new ECDSASigner(key));
        return jwt.serialize();
    }

    private static String hs256(String kid, byte[] secret, JWTClaimsSet claims) throws Exception {
        SignedJWT jwt = new SignedJWT(
                new JWSHeader.Builder(JWSAlgorithm.HS256).keyID(kid).build(), claims);
        jwt.sign(new MACSigner(secret));
        return jwt.serialize();
    }

    /** HS256 needs 256 bits at least: a short secret is padded (the attacker's choice, not the verifier's). */
    private static byte[] padded(byte[] secret) {
        return secret.length >= 32 ? secret : java.util.Arrays.copyOf(secret, 32);
    }

    private static String unsigned(String header) throws Exception {
        return Base64URL.encode(header) + "."
                + Base64URL.encode(claims().build().toString()) + ".";
    }

    private static String swapClaims(String token, JWTClaimsSet claims) {
        String[] parts = token.split("\\.");
        return parts[0] + "." + Base64URL.encode(claims.toString()) + "." + parts[2];
    }
}
