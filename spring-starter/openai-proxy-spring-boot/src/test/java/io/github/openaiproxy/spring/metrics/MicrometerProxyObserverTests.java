package io.github.openaiproxy.spring.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.observe.Outcome;
import io.github.openaiproxy.core.observe.ProxyObserver;
import io.github.openaiproxy.core.observe.Usage;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The observer driven through the callbacks in the order the engine makes them. */
class MicrometerProxyObserverTests {
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private final MicrometerProxyObserver observer = new MicrometerProxyObserver(registry, 2);

    @Test
    void recordsARequestByRouteStatusModelAndOutcome() {
        ProxyObserver.Observation e = observer.begin("POST", "/v1/chat/completions");
        e.upstreamResponded(200, Duration.ofMillis(120));
        e.routed("/v1/chat/completions", Optional.of("gpt-4o-mini"));
        e.finished(200, false, Outcome.COMPLETED, Duration.ofMillis(150));

        assertThat(registry.get(MicrometerProxyObserver.REQUESTS)
                        .tag("route", "/v1/chat/completions")
                        .tag("status", "200")
                        .tag("model", "gpt-4o-mini")
                        .tag("outcome", "COMPLETED")
                        .tag("streamed", "false")
                        .timer()
                        .totalTime(TimeUnit.MILLISECONDS))
                .isEqualTo(150);
        assertThat(registry.get(MicrometerProxyObserver.UPSTREAM_LATENCY)
                        .tag("route", "/v1/chat/completions")
                        .tag("status", "200")
                        .timer()
                        .totalTime(TimeUnit.MILLISECONDS))
                .isEqualTo(120);
    }

    @Test
    void recordsUpstreamLatencyOnceWhicheverCallbackComesFirst() {
        ProxyObserver.Observation e = observer.begin("GET", "/v1/models");
        e.routed("/v1/models", Optional.empty());
        e.upstreamResponded(503, Duration.ofMillis(40));
        e.finished(503, false, Outcome.COMPLETED, Duration.ofMillis(41));

        assertThat(registry.get(MicrometerProxyObserver.UPSTREAM_LATENCY)
                        .tag("route", "/v1/models")
                        .tag("status", "503")
                        .timer()
                        .count())
                .isEqualTo(1);
        assertThat(registry.get(MicrometerProxyObserver.REQUESTS)
                        .tag("model", "none")
                        .timer()
                        .count())
                .isEqualTo(1);
    }

    @Test
    void aSubRequestAddsItsUpstreamCallAndTokensButIsNoRequestOrStreamOfItsOwn() {
        ProxyObserver.Observation e = observer.beginSubRequest("POST", "/");
        e.upstreamResponded(200, Duration.ofMillis(70));
        e.routed("/", Optional.of("gpt-4o"));
        e.streamOpened();
        assertThat(registry.get(MicrometerProxyObserver.ACTIVE_STREAMS).gauge().value())
                .isZero();
        e.firstEvent(Duration.ofMillis(75));
        e.usage(new Usage(3, 4, 7));
        e.finished(200, true, Outcome.COMPLETED, Duration.ofMillis(90));

        assertThat(registry.find(MicrometerProxyObserver.REQUESTS).timers()).isEmpty();
        assertThat(registry.find(MicrometerProxyObserver.FIRST_EVENT).timers()).isEmpty();
        assertThat(registry.get(MicrometerProxyObserver.UPSTREAM_LATENCY)
                        .tag("route", "/")
                        .timer()
                        .count())
                .isEqualTo(1);
        assertThat(registry.get(MicrometerProxyObserver.TOKENS)
                        .tag("type", "output")
                        .counter()
                        .count())
                .isEqualTo(4);
    }

    @Test
    void tracksAStreamFromOpeningToItsEnd() {
        ProxyObserver.Observation e = observer.begin("POST", "/");
        e.upstreamResponded(200, Duration.ofMillis(80));
        e.routed("/", Optional.of("gpt-4o"));
        e.streamOpened();
        assertThat(registry.get(MicrometerProxyObserver.ACTIVE_STREAMS).gauge().value())
                .isEqualTo(1);
        e.firstEvent(Duration.ofMillis(90));
        e.usage(new Usage(11, 22, 33));
        e.finished(200, true, Outcome.CLIENT_GONE, Duration.ofSeconds(3));

        assertThat(registry.get(MicrometerProxyObserver.ACTIVE_STREAMS).gauge().value())
                .isZero();
        assertThat(registry.get(MicrometerProxyObserver.FIRST_EVENT)
                        .tag("route", "/")
                        .tag("model", "gpt-4o")
                        .timer()
                        .totalTime(TimeUnit.MILLISECONDS))
                .isEqualTo(90);
        assertThat(registry.get(MicrometerProxyObserver.TOKENS)
                        .tag("model", "gpt-4o")
                        .tag("type", "input")
                        .counter()
                        .count())
                .isEqualTo(11);
        assertThat(registry.get(MicrometerProxyObserver.TOKENS)
                        .tag("model", "gpt-4o")
                        .tag("type", "output")
                        .counter()
                        .count())
                .isEqualTo(22);
        assertThat(registry.get(MicrometerProxyObserver.REQUESTS)
                        .tag("outcome", "CLIENT_GONE")
                        .tag("streamed", "true")
                        .timer()
                        .count())
                .isEqualTo(1);
    }

    @Test
    void tagsOnlyModelsTheUpstreamAcceptedAndAtMostTheConfiguredNumber() {
        request("not-a-model", 404);
        request("gpt-4o", 200);
        request("gpt-4o-mini", 200);
        request("gpt-4.1", 200); // a third accepted model: over the limit of 2
        request("gpt-4o", 200);
        request("bad model\nname", 200);

        assertThat(registry.get(MicrometerProxyObserver.REQUESTS).timers())
                .extracting(t -> t.getId().getTag("model"))
                .containsOnly("other", "gpt-4o", "gpt-4o-mini");
        assertThat(registry.get(MicrometerProxyObserver.REQUESTS).tag("model", "other").timers().stream()
                        .mapToLong(t -> t.count())
                        .sum())
                .isEqualTo(3);
        assertThat(registry.get(MicrometerProxyObserver.REQUESTS)
                        .tag("model", "gpt-4o")
                        .timer()
                        .count())
                .isEqualTo(2);
    }

    @Test
    void aModelOnceAcceptedKeepsItsTagOnFailures() {
        request("gpt-4o", 200);
        request("gpt-4o", 429);
        assertThat(registry.get(MicrometerProxyObserver.REQUESTS)
                        .tag("model", "gpt-4o")
                        .tag("status", "429")
                        .timer()
                        .count())
                .isEqualTo(1);
    }

    @Test
    void countsRefusalsByReasonAndPolicy() {
        refuse("no_credential", ProxyObserver.Observation.NO_POLICY, 401);
        refuse("no_credential", ProxyObserver.Observation.NO_POLICY, 401);
        refuse("model_not_allowed", "guests", 403);

        assertThat(registry.get(MicrometerProxyObserver.REFUSALS)
                        .tag("reason", "no_credential")
                        .tag("policy", "none")
                        .counter()
                        .count())
                .isEqualTo(2);
        assertThat(registry.get(MicrometerProxyObserver.REFUSALS)
                        .tag("reason", "model_not_allowed")
                        .tag("policy", "guests")
                        .counter()
                        .count())
                .isEqualTo(1);
        // The refused request itself is still a request, with its status.
        assertThat(registry.get(MicrometerProxyObserver.REQUESTS)
                        .tag("status", "403")
                        .timer()
                        .count())
                .isEqualTo(1);
    }

    @Test
    void countsUpstreamAttemptsByUpstreamAndOutcomeWithBoundedTags() {
        ProxyObserver.Observation e = observer.begin("POST", "/v1/chat/completions");
        e.upstreamAttempt("azure", "429");
        e.upstreamAttempt("azure", "open");
        e.upstreamAttempt("openai", "200");
        e.upstreamAttempt("azure", "429");
        for (int i = 0; i < MicrometerProxyObserver.MAX_ACCESS_TAGS + 5; i++) {
            e.upstreamAttempt("u" + i, "error");
        }
        e.upstreamAttempt("openai", "free text with spaces");

        assertThat(registry.get(MicrometerProxyObserver.ATTEMPTS)
                        .tag("upstream", "azure")
                        .tag("outcome", "429")
                        .counter()
                        .count())
                .isEqualTo(2);
        assertThat(registry.get(MicrometerProxyObserver.ATTEMPTS)
                        .tag("upstream", "azure")
                        .tag("outcome", "open")
                        .counter()
                        .count())
                .isEqualTo(1);
        assertThat(registry.get(MicrometerProxyObserver.ATTEMPTS)
                        .tag("upstream", "other")
                        .tag("outcome", "error")
                        .counter()
                        .count())
                .isEqualTo(7); // azure and openai took two places of the bound
        assertThat(registry.get(MicrometerProxyObserver.ATTEMPTS)
                        .tag("upstream", "openai")
                        .tag("outcome", "other")
                        .counter()
                        .count())
                .isEqualTo(1);
    }

    @Test
    void refusalTagsStayBoundedWhateverValuesArrive() {
        // Hostile or unexpected values: free text, and more distinct names than the bound.
        refuse("key opk-secret with spaces", "p", 401);
        for (int i = 0; i < MicrometerProxyObserver.MAX_ACCESS_TAGS + 50; i++) {
            refuse("route_not_allowed", "policy-" + i, 403);
        }

        assertThat(registry.find(MicrometerProxyObserver.REFUSALS).counters())
                .allSatisfy(c -> assertThat(c.getId().getTag("reason")).doesNotContain("opk-"));
        assertThat(registry.get(MicrometerProxyObserver.REFUSALS)
                        .tag("reason", "other")
                        .counter()
                        .count())
                .isEqualTo(1);
        assertThat(registry.find(MicrometerProxyObserver.REFUSALS)
                        .tag("reason", "route_not_allowed")
                        .counters())
                .hasSize(MicrometerProxyObserver.MAX_ACCESS_TAGS); // policy "p" took one place; "other" is one
        assertThat(registry.get(MicrometerProxyObserver.REFUSALS)
                        .tag("reason", "route_not_allowed")
                        .tag("policy", "other")
                        .counter()
                        .count())
                .isEqualTo(50 + 1);
    }

    @Test
    void countsImagesNotStoredByReasonForRequestsAndSubRequests() {
        ProxyObserver.Observation e = observer.begin("POST", "/v1/images/generations");
        e.upstreamResponded(200, Duration.ofMillis(5));
        e.routed("/v1/images/generations", Optional.of("dall-e-3"));
        e.imageNotStored("fetch_refused_host");
        e.finished(200, false, Outcome.COMPLETED, Duration.ofMillis(6));
        // GraphQL's generateImage stores its images in a sub-request
        ProxyObserver.Observation sub = observer.beginSubRequest("POST", "/images/generations");
        sub.imageNotStored("fetch_refused_host");
        sub.imageNotStored("too_large");

        assertThat(registry.get(MicrometerProxyObserver.IMAGES_NOT_STORED)
                        .tag("reason", "fetch_refused_host")
                        .counter()
                        .count())
                .isEqualTo(2);
        assertThat(registry.get(MicrometerProxyObserver.IMAGES_NOT_STORED)
                        .tag("reason", "too_large")
                        .counter()
                        .count())
                .isEqualTo(1);
    }

    @Test
    void imageReasonTagsStayBoundedWhateverValuesArrive() {
        ProxyObserver.Observation e = observer.begin("POST", "/v1/images/generations");
        e.imageNotStored("host evil.example.com not allowed");
        for (int i = 0; i < MicrometerProxyObserver.MAX_IMAGE_REASONS + 30; i++) {
            e.imageNotStored("reason_" + i);
        }

        assertThat(registry.find(MicrometerProxyObserver.IMAGES_NOT_STORED).counters())
                .hasSize(MicrometerProxyObserver.MAX_IMAGE_REASONS + 1) // and "other"
                .allSatisfy(c -> assertThat(c.getId().getTag("reason")).doesNotContain("evil"));
        assertThat(registry.get(MicrometerProxyObserver.IMAGES_NOT_STORED)
                        .tag("reason", "other")
                        .counter()
                        .count())
                .isEqualTo(30 + 1);
    }

    private void refuse(String reason, String policy, int status) {
        ProxyObserver.Observation e = observer.begin("POST", "/v1/chat/completions");
        e.refused(reason, policy);
        e.routed("/v1/chat/completions", Optional.empty());
        e.finished(status, false, Outcome.COMPLETED, Duration.ofMillis(1));
    }

    private void request(String model, int status) {
        ProxyObserver.Observation e = observer.begin("POST", "/v1/chat/completions");
        e.upstreamResponded(status, Duration.ofMillis(5));
        e.routed("/v1/chat/completions", Optional.of(model));
        e.finished(status, false, Outcome.COMPLETED, Duration.ofMillis(6));
    }

    static io.github.openaiproxy.core.usage.UsageRecord metered(String policy, String model, int status, long cost) {
        return new io.github.openaiproxy.core.usage.UsageRecord(
                java.time.Instant.now(),
                "PROXY_KEY",
                "key_1",
                "key_1",
                null,
                policy,
                "/v1/chat/completions",
                model,
                model,
                "default",
                status,
                status,
                new io.github.openaiproxy.core.usage.TokenUsage(100, 40, 20, 5, 0),
                cost,
                false,
                true,
                io.github.openaiproxy.core.usage.UsageRecord.Outcome.COMPLETED,
                1000,
                100,
                null);
    }

    /** Tokens by type and the cost in dollars, tagged by policy and model. */
    @Test
    void meteredCountsTokensByTypeAndCostByPolicyAndModel() {
        ProxyObserver.Observation e = observer.begin("POST", "/v1/chat/completions");
        e.metered(metered("premium", "gpt-4o", 200, 2_500_000_000L));
        e.metered(metered("premium", "gpt-4o", 200, 500_000_000L));
        for (String[] t : new String[][] {{"input", "200"}, {"cached", "80"}, {"output", "40"}, {"reasoning", "10"}}) {
            assertThat(registry.get(MicrometerProxyObserver.USAGE_TOKENS)
                            .tag("policy", "premium")
                            .tag("model", "gpt-4o")
                            .tag("type", t[0])
                            .counter()
                            .count())
                    .as(t[0])
                    .isEqualTo(Double.parseDouble(t[1]));
        }
        assertThat(registry.get(MicrometerProxyObserver.COST)
                        .tag("policy", "premium")
                        .tag("model", "gpt-4o")
                        .counter()
                        .count())
                .isEqualTo(3.0);
    }

    /** Models and policies are bounded: a failed request's model and names past the maximum are 'other'. */
    @Test
    void meteredTagsAreBounded() {
        ProxyObserver.Observation e = observer.begin("POST", "/v1/chat/completions");
        e.metered(metered("keys", "never-answered", 400, 1)); // the upstream refused it: not a known model
        e.metered(metered("keys", "m1", 200, 1));
        e.metered(metered("keys", "m2", 200, 1));
        e.metered(metered("keys", "m3", 200, 1)); // past the maximum of 2 model values
        e.metered(metered("keys", "x".repeat(10_000), 200, 1));
        assertThat(registry.find(MicrometerProxyObserver.USAGE_TOKENS).meters().stream()
                        .map(m -> m.getId().getTag("model"))
                        .distinct())
                .containsExactlyInAnyOrder("other", "m1", "m2");
    }
}
