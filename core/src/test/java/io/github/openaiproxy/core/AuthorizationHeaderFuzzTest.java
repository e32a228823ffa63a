package io.github.openaiproxy.core;

import static com.github.tomakehurst.wiremock.client.WireMock.get;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static io.github.openaiproxy.core.EngineFixture.CHAT_COMPLETION;
import static io.github.openaiproxy.core.EngineFixture.config;
import static io.github.openaiproxy.core.EngineFixture.send;
import static org.assertj.core.api.Assertions.assertThat;

import com.nimbusds.jose.jwk.JWKSet;
import com.nimbusds.jose.jwk.RSAKey;
import com.nimbusds.jose.jwk.gen.RSAKeyGenerator;
import io.github.openaiproxy.core.access.AccessConfig;
import io.github.openaiproxy.core.access.InMemoryProxyKeyStore;
import io.github.openaiproxy.core.access.ProxyKey;
import io.github.openaiproxy.core.access.ProxyKeys;
import io.github.openaiproxy.core.testing.Answer;
import io.github.openaiproxy.testsupport.WireMockUpstream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * 1,000 random and malformed {@code Authorization} headers (seeded, so a failure repeats): each gets exactly
 * what the rules say, never a 5xx. With anonymous callers allowed and a JWT issuer configured: a bearer token
 * with the proxy key prefix or a JWT's shape is a credential of ours and, being random, refused (401); any
 * other header is no credential of ours and the caller passes as anonymous (200 from the upstream).
 */
class AuthorizationHeaderFuzzTest {
    @RegisterExtension
    static final WireMockUpstream upstream = new WireMockUpstream();

    private static final String ALPHABET =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.+/=:; \t\"',!~é\u00a0\u2028";

    @Test
    void everyHeaderGets401OrPassesAsAnonymousExactlyPerTheRules() throws Exception {
        RSAKey signing = new RSAKeyGenerator(2048).keyID("k1").generate();
        upstream.server().stubFor(post("/v1/chat/completions").willReturn(okJson(CHAT_COMPLETION)));
        upstream.server().stubFor(get("/jwks.json").willReturn(okJson(new JWKSet(signing.toPublicJWK()).toString())));
        ProxyKeys.NewKey known = ProxyKeys.generate();
        AccessConfig access = AccessConfig.DEFAULTS.withJwt(new AccessConfig.Jwt(
                "https://issuer.example",
                "proxy",
                upstream.baseUrl().resolve("/jwks.json").toString()));
        Random random = new Random(20261205L);
        List<Function<Random, String>> kinds = List.of(
                r -> text(r, r.nextInt(80)),
                r -> "Bearer " + text(r, r.nextInt(60)),
                r -> pick(r, "Bearer ", "bearer ", "BEARER ", "Bearer  ") + "opk-" + text(r, r.nextInt(50)),
                r -> "Bearer opk-" + base64url(r, 32),
                r -> "Bearer " + base64url(r, 1 + r.nextInt(20)) + "." + base64url(r, 1 + r.nextInt(40)) + "."
                        + base64url(r, r.nextInt(40)),
                r -> "Bearer " + jwtHeader(r) + "." + base64url(r, 30) + "." + base64url(r, 256),
                r -> "Bearer " + base64url(r, 10) + "." + base64url(r, 10) + "." + base64url(r, 10) + "."
                        + base64url(r, 10),
                r -> "Basic " + Base64.getEncoder().encodeToString(text(r, 12).getBytes(StandardCharsets.UTF_8)),
                r -> pick(r, "Bearer", "Bearer ", "Bearer \t", "", " ", "Token opk-x", "opk-" + base64url(r, 32)),
                r -> "Bearer sk-" + base64url(r, 40));

        try (ProxyEngine engine = ProxyEngine.builder(
                        config(upstream.baseUrl()).access(access).build())
                .proxyKeys(InMemoryProxyKeyStore.of(new ProxyKey(
                        "k", known.displayPrefix(), known.hash(), "k", null, "keys", Instant.EPOCH, null, null, null)))
                .build()) {
            int refused = 0;
            for (int i = 0; i < 1000; i++) {
                String header = kinds.get(random.nextInt(kinds.size())).apply(random);
                Answer a = send(
                        engine,
                        EngineFixture.post("/v1/chat/completions", "{\"model\":\"gpt-4o-mini\",\"messages\":[]}")
                                .header("Authorization", header));
                int expected = isOurCredential(header) ? 401 : 200;
                assertThat(a.status()).as("#%d %s", i, header).isEqualTo(expected);
                if (expected == 401) {
                    refused++;
                    assertThat(a.json().path("error").path("code").asText()).isEqualTo("invalid_api_key");
                }
            }
            assertThat(refused).as("both outcomes are exercised").isBetween(200, 800);
        }
    }

    /** The rule, written independently of the proxy's code: a bearer token shaped as a proxy key or a JWT. */
    private static boolean isOurCredential(String header) {
        if (header.length() <= 7
                || !header.substring(0, 7).toLowerCase(Locale.ROOT).equals("bearer ")) {
            return false;
        }
        String token = header.substring(7).strip();
        return !token.isEmpty()
                && (token.startsWith("opk-") || token.matches("[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]*"));
    }

    private static String jwtHeader(Random r) {
        String json = pick(
                r,
                "{\"alg\":\"RS256\",\"kid\":\"k1\"}",
                "{\"alg\":\"RS256\",\"kid\":\"" + base64url(r, 6) + "\"}",
                "{\"alg\":\"none\"}",
                "{\"alg\":\"HS256\",\"kid\":\"k1\"}",
                "{\"alg\":\"ES256\"}",
                "{\"alg\":");
        return Base64.getUrlEncoder().withoutPadding().encodeToString(json.getBytes(StandardCharsets.UTF_8));
    }

    private static String text(Random r, int length) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < length; i++) {
            b.append(ALPHABET.charAt(r.nextInt(ALPHABET.length())));
        }
        return b.toString();
    }

    private static String base64url(Random r, int bytes) {
        byte[] b = new byte[bytes];
        r.nextBytes(b);
        return Base64.getUrlEncoder().withoutPadding().encodeToString(b);
    }

    @SafeVarargs
    private static <T> T pick(Random r, T... options) {
        return options[r.nextInt(options.length)];
    }
}
