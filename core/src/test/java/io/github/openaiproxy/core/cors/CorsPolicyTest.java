package io.github.openaiproxy.core.cors;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.cors.CorsPolicy.Preflight;
import io.github.openaiproxy.core.cors.CorsPolicy.Verdict;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class CorsPolicyTest {
    /** The headers the official OpenAI SDKs send from a browser. */
    private static final String SDK_HEADERS = "content-type, authorization, accept, x-stainless-lang,"
            + " x-stainless-package-version, x-stainless-os, x-stainless-arch, x-stainless-runtime,"
            + " x-stainless-runtime-version, x-stainless-retry-count, x-stainless-timeout";

    private static final Set<String> POST = Set.of("POST");

    @ParameterizedTest
    @ValueSource(
            strings = {
                "https://chat.example.com",
                "http://localhost:3000",
                "http://localhost",
                "null",
                "https://evil.example",
                "file://"
            })
    void defaultConfigDeniesEveryCrossOriginOrigin(String origin) {
        CorsPolicy policy = new CorsPolicy(CorsConfig.defaults());

        assertThat(policy.judge(Optional.of(origin), Optional.of("https://proxy.example.com")))
                .isEqualTo(Verdict.DENIED);
        assertThat(policy.preflight(origin, "POST", "content-type", POST)).isInstanceOf(Preflight.Rejected.class);
    }

    @Test
    void requestWithoutOriginIsNotCors() {
        CorsPolicy policy = new CorsPolicy(CorsConfig.defaults());

        assertThat(policy.judge(Optional.empty(), Optional.empty())).isEqualTo(Verdict.NOT_CORS);
        assertThat(policy.judge(Optional.of("  "), Optional.empty())).isEqualTo(Verdict.NOT_CORS);
    }

    @Test
    void sameOriginRequestIsNotCorsEvenWhenNoOriginIsAllowed() {
        CorsPolicy policy = new CorsPolicy(CorsConfig.defaults());

        assertThat(policy.judge(Optional.of("http://localhost:8080"), Optional.of("http://localhost:8080")))
                .isEqualTo(Verdict.NOT_CORS);
        assertThat(policy.judge(Optional.of("HTTP://LocalHost:8080"), Optional.of("http://localhost:8080")))
                .isEqualTo(Verdict.NOT_CORS);
    }

    @Test
    void sameHostOnAnotherPortIsCrossOrigin() {
        CorsPolicy policy = new CorsPolicy(CorsConfig.defaults());

        assertThat(policy.judge(Optional.of("http://localhost:5173"), Optional.of("http://localhost:8080")))
                .isEqualTo(Verdict.DENIED);
    }

    @Test
    void exactOriginIsAllowedIgnoringCase() {
        CorsPolicy policy = policy(List.of("https://chat.example.com"));

        assertThat(policy.judge(Optional.of("https://chat.example.com"), Optional.empty()))
                .isEqualTo(Verdict.ALLOWED);
        assertThat(policy.isAllowedOrigin("https://Chat.Example.com")).isTrue();
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "http://chat.example.com",
                "https://chat.example.com:8443",
                "https://chat.example.com.evil.net",
                "https://evil.chat.example.com",
                "https://example.com"
            })
    void exactOriginAllowsNothingElse(String origin) {
        assertThat(policy(List.of("https://chat.example.com")).isAllowedOrigin(origin))
                .isFalse();
    }

    @Test
    void configuredOriginWithTrailingSlashStillMatches() {
        assertThat(policy(List.of("https://chat.example.com/")).isAllowedOrigin("https://chat.example.com"))
                .isTrue();
    }

    @ParameterizedTest
    @ValueSource(
            strings = {"http://localhost", "http://localhost:5173", "http://localhost:8080", "http://LOCALHOST:3000"})
    void localhostAnyPortPatternMatchesWithAndWithoutPort(String origin) {
        assertThat(policy(List.of("http://localhost:*")).isAllowedOrigin(origin))
                .isTrue();
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "https://localhost:5173",
                "http://localhost.evil.com",
                "http://localhost.evil.com:5173",
                "http://localhost:abc",
                "http://localhost:5173/path",
                "http://127.0.0.1:5173",
                "http://evil-localhost:5173"
            })
    void localhostAnyPortPatternMatchesNothingElse(String origin) {
        assertThat(policy(List.of("http://localhost:*")).isAllowedOrigin(origin))
                .isFalse();
    }

    @ParameterizedTest
    @ValueSource(strings = {"https://app.example.com", "https://staging-1.example.com", "https://APP.example.com"})
    void subdomainPatternMatchesOneLabel(String origin) {
        assertThat(policy(List.of("https://*.example.com")).isAllowedOrigin(origin))
                .isTrue();
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "https://example.com",
                "http://app.example.com",
                "https://app.example.com:8443",
                "https://app.example.com.evil.net",
                "https://evilexample.com",
                "https://app.evilexample.com",
                "https://a.b.example.com",
                "https://evil.net/.example.com"
            })
    void subdomainPatternMatchesNothingElse(String origin) {
        assertThat(policy(List.of("https://*.example.com")).isAllowedOrigin(origin))
                .isFalse();
    }

    @Test
    void wildcardAllowsAnyOriginAndAnswersStar() {
        CorsPolicy policy = policy(List.of("*"));

        assertThat(policy.judge(Optional.of("https://anything.example"), Optional.empty()))
                .isEqualTo(Verdict.ALLOWED);
        assertThat(policy.responseHeaders("https://anything.example"))
                .containsEntry("Access-Control-Allow-Origin", "*")
                .doesNotContainKey("Access-Control-Allow-Credentials");
    }

    @Test
    void namedOriginIsEchoedWithCredentials() {
        CorsPolicy policy = new CorsPolicy(CorsConfig.builder()
                .origins(List.of("https://chat.example.com"))
                .allowCredentials(true)
                .build());

        assertThat(policy.responseHeaders("https://chat.example.com"))
                .containsEntry("Access-Control-Allow-Origin", "https://chat.example.com")
                .containsEntry("Access-Control-Allow-Credentials", "true");
    }

    @Test
    void responseHeadersExposeRequestIdAndRateLimits() {
        String exposed = policy(List.of("https://chat.example.com"))
                .responseHeaders("https://chat.example.com")
                .get("Access-Control-Expose-Headers");

        assertThat(exposed).contains("x-request-id", "x-ratelimit-remaining-requests", "retry-after", "x-should-retry");
    }

    @Test
    void preflightEchoesEachHeaderOnceAndRefusesAListTooLongToEcho() {
        CorsPolicy policy = policy(List.of("http://localhost:*"));
        Preflight repeated = policy.preflight(
                "http://localhost:5173",
                "POST",
                String.join(",", java.util.Collections.nCopies(500, "x-stainless-os")),
                POST);
        assertThat(((Preflight.Accepted) repeated).headers())
                .containsEntry("Access-Control-Allow-Headers", "x-stainless-os");

        StringBuilder names = new StringBuilder(SDK_HEADERS);
        for (int i = 0; names.length() <= CorsPolicy.MAX_ALLOWED_HEADERS_ECHO; i++) {
            names.append(",x-stainless-h").append(i);
        }
        assertThat(policy.preflight("http://localhost:5173", "POST", names.toString(), POST))
                .isEqualTo(new Preflight.Rejected("too many request headers asked for"));
    }

    @Test
    void preflightAcceptsTheHeadersTheOpenAiSdksSend() {
        Preflight answer =
                policy(List.of("http://localhost:*")).preflight("http://localhost:5173", "POST", SDK_HEADERS, POST);

        assertThat(answer).isInstanceOf(Preflight.Accepted.class);
        var headers = ((Preflight.Accepted) answer).headers();
        assertThat(headers)
                .containsEntry("Access-Control-Allow-Origin", "http://localhost:5173")
                .containsEntry("Access-Control-Allow-Methods", "POST")
                .containsEntry("Access-Control-Max-Age", "86400")
                .doesNotContainKey("Access-Control-Expose-Headers");
        assertThat(headers.get("Access-Control-Allow-Headers").split(",\\s*"))
                .containsExactlyInAnyOrder(SDK_HEADERS.split(",\\s*"));
    }

    @Test
    void preflightAcceptsOtherOpenAiHeadersAndIgnoresCaseAndBlanks() {
        Preflight answer = policy(List.of("https://chat.example.com"))
                .preflight(
                        "https://chat.example.com",
                        "post",
                        "X-OpenAI-Key, ,OpenAI-Organization,openai-project,OpenAI-Beta,Idempotency-Key,",
                        POST);

        assertThat(answer).isInstanceOf(Preflight.Accepted.class);
    }

    @Test
    void preflightWithoutRequestedHeadersAllowsNone() {
        Preflight answer =
                policy(List.of("https://chat.example.com")).preflight("https://chat.example.com", "POST", "", POST);

        assertThat(((Preflight.Accepted) answer).headers()).doesNotContainKey("Access-Control-Allow-Headers");
    }

    @Test
    void preflightListsEveryMethodOfTheRoute() {
        Preflight answer = policy(List.of("https://chat.example.com"))
                .preflight("https://chat.example.com", "GET", "", Set.of("POST", "GET"));

        assertThat(((Preflight.Accepted) answer).headers()).containsEntry("Access-Control-Allow-Methods", "GET, POST");
    }

    @Test
    void preflightRejectsAMethodTheRouteDoesNotAccept() {
        Preflight answer =
                policy(List.of("https://chat.example.com")).preflight("https://chat.example.com", "DELETE", "", POST);

        assertThat(answer).isEqualTo(new Preflight.Rejected("method DELETE not allowed"));
    }

    @Test
    void preflightRejectsAHeaderThatIsNotAllowed() {
        Preflight answer = policy(List.of("https://chat.example.com"))
                .preflight("https://chat.example.com", "POST", "content-type, x-custom-token", POST);

        assertThat(answer).isEqualTo(new Preflight.Rejected("header x-custom-token not allowed"));
    }

    @Test
    void preflightRejectsAnOriginThatIsNotAllowed() {
        Preflight answer = policy(List.of("https://chat.example.com"))
                .preflight("https://evil.example", "POST", "content-type", POST);

        assertThat(answer).isEqualTo(new Preflight.Rejected("origin not allowed"));
    }

    @Test
    void allowedHeadersStarAllowsAnyHeader() {
        CorsPolicy policy = new CorsPolicy(CorsConfig.builder()
                .origins(List.of("https://chat.example.com"))
                .allowedHeaders(List.of("*"))
                .build());

        assertThat(policy.preflight("https://chat.example.com", "POST", "x-anything", POST))
                .isInstanceOf(Preflight.Accepted.class);
    }

    @Test
    void maxAgeComesFromTheConfig() {
        CorsPolicy policy = new CorsPolicy(CorsConfig.builder()
                .origins(List.of("https://chat.example.com"))
                .maxAge(java.time.Duration.ofMinutes(10))
                .build());

        Preflight answer = policy.preflight("https://chat.example.com", "POST", "", POST);

        assertThat(((Preflight.Accepted) answer).headers()).containsEntry("Access-Control-Max-Age", "600");
    }

    @Test
    void varyNamesOriginAndThePreflightHeaders() {
        assertThat(CorsPolicy.vary())
                .contains("Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers");
    }

    private static CorsPolicy policy(List<String> origins) {
        return new CorsPolicy(CorsConfig.builder().origins(origins).build());
    }
}
