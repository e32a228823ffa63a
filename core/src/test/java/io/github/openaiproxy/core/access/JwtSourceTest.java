package io.github.openaiproxy.core.access;

import static com.github.tomakehurst.wiremock.client.WireMock.get;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static org.assertj.core.api.Assertions.assertThat;

import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.RSASSASigner;
import com.nimbusds.jose.jwk.JWKSet;
import com.nimbusds.jose.jwk.RSAKey;
import com.nimbusds.jose.jwk.gen.RSAKeyGenerator;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import io.github.openaiproxy.testsupport.WireMockUpstream;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.Date;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** A verified JWT is remembered, so its next calls skip the executor and the signature, but never past exp. */
class JwtSourceTest {
    @RegisterExtension
    static final WireMockUpstream issuer = new WireMockUpstream();

    /**
     * The issuer's signing key, made once: a 2048-bit RSA key took up to 2.6 s of a loaded machine, and each of the
     * eight tests made its own. Each test still has its own JwtSource, which fetches the key set itself.
     */
    static RSAKey signingKey;

    private final ExecutorService executor = Executors.newSingleThreadExecutor();

    @BeforeAll
    static void makeKey() throws Exception {
        signingKey = new RSAKeyGenerator(2048).keyID("k1").generate();
    }

    private Instant now = Instant.parse("2026-01-01T00:00:00Z");
    private final Clock clock = new Clock() {
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
    };

    @AfterEach
    void stop() {
        executor.shutdownNow();
    }

    @Test
    void aVerifiedTokenIsRememberedUntilItExpires() throws Exception {
        issuer.server().stubFor(get("/jwks").willReturn(okJson(new JWKSet(signingKey.toPublicJWK()).toString())));
        JwtSource source = new JwtSource(
                new AccessConfig.Jwt(
                        "https://iss", "aud", issuer.baseUrl().resolve("/jwks").toString()),
                executor,
                clock);
        SignedJWT jwt = new SignedJWT(
                new JWSHeader.Builder(JWSAlgorithm.RS256).keyID("k1").build(),
                new JWTClaimsSet.Builder()
                        .issuer("https://iss")
                        .audience("aud")
                        .subject("alice")
                        .expirationTime(Date.from(now.plusSeconds(60)))
                        .build());
        jwt.sign(new RSASSASigner(signingKey));
        String token = jwt.serialize();

        Resolution first = source.resolve(token).get(10, TimeUnit.SECONDS);
        assertThat(first).isEqualTo(Resolution.identified(Identity.token("https://iss#alice", Policy.USERS)));

        now = now.plusSeconds(59);
        CompletableFuture<Resolution> again = source.resolve(token);
        assertThat(again).as("answered from memory, on the calling thread").isDone();
        assertThat(again.join()).isEqualTo(first);

        now = now.plus(Duration.ofSeconds(1 + JwtSource.CLOCK_SKEW_SECONDS + 1));
        assertThat(source.resolve(token).get(10, TimeUnit.SECONDS)).isEqualTo(JwtSource.INVALID);
    }

    /**
     * OAuth access tokens of RFC 9068 say {@code typ: at+jwt} (Duende IdentityServer, ForgeRock and others issue
     * them so): accepted like {@code JWT} and no {@code typ}; any other type is some other token (an ID token, a
     * logout token) and refused.
     */
    @ParameterizedTest
    @CsvSource({
        "JWT, true",
        "at+jwt, true",
        "application/at+jwt, true",
        "AT+JWT, true",
        "'', true",
        "secevent+jwt, false",
        "logout+jwt, false"
    })
    void accessTokensOfRfc9068AreAcceptedAndOtherTypesAreNot(String type, boolean accepted) throws Exception {
        issuer.server().stubFor(get("/jwks").willReturn(okJson(new JWKSet(signingKey.toPublicJWK()).toString())));
        JwtSource source = new JwtSource(
                new AccessConfig.Jwt(
                        "https://iss", "aud", issuer.baseUrl().resolve("/jwks").toString()),
                executor,
                clock);
        JWSHeader.Builder header = new JWSHeader.Builder(JWSAlgorithm.RS256).keyID("k1");
        if (!type.isEmpty()) {
            header.type(new com.nimbusds.jose.JOSEObjectType(type));
        }
        SignedJWT jwt = new SignedJWT(
                header.build(),
                new JWTClaimsSet.Builder()
                        .issuer("https://iss")
                        .audience("aud")
                        .subject("alice")
                        .expirationTime(Date.from(now.plusSeconds(60)))
                        .build());
        jwt.sign(new RSASSASigner(signingKey));

        Resolution r = source.resolve(jwt.serialize()).get(10, TimeUnit.SECONDS);
        assertThat(r)
                .isEqualTo(
                        accepted
                                ? Resolution.identified(Identity.token("https://iss#alice", Policy.USERS))
                                : JwtSource.INVALID);
    }
}
