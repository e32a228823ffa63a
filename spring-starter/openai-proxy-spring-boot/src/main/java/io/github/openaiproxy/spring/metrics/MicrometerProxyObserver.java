package io.github.openaiproxy.spring.metrics;

import io.github.openaiproxy.core.observe.ModelTags;
import io.github.openaiproxy.core.observe.Outcome;
import io.github.openaiproxy.core.observe.ProxyObserver;
import io.github.openaiproxy.core.observe.Usage;
import io.github.openaiproxy.core.usage.TokenUsage;
import io.github.openaiproxy.core.usage.UsageRecord;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Records the proxy's metrics with Micrometer:
 *
 * <ul>
 *   <li>{@value #REQUESTS} (timer): every request, tagged {@code route} (the route template, or
 *       {@code unmatched}), {@code status}, {@code model}, {@code outcome} ({@code COMPLETED},
 *       {@code CLIENT_GONE}, {@code UPSTREAM_FAILED}) and {@code streamed}; the time runs to the last byte;
 *   <li>{@value #UPSTREAM_LATENCY} (timer): time to the upstream's response headers, tagged {@code route}
 *       and the upstream's {@code status};
 *   <li>{@value #FIRST_EVENT} (timer): time from the request to the first event of a stream, tagged
 *       {@code route} and {@code model};
 *   <li>{@value #ACTIVE_STREAMS} (gauge): streams open now;
 *   <li>{@value #TOKENS} (counter): tokens from the upstream's {@code usage}, tagged {@code model} and
 *       {@code type} ({@code input}, {@code output});
 *   <li>{@value #REFUSALS} (counter): requests the access checks refused (401, 403), tagged {@code reason}
 *       (for example {@code unknown_key}, {@code no_credential}, {@code model_not_allowed}) and {@code policy}
 *       (the policy that refused, {@code none} before any applied). Never a key, user name or address.
 *   <li>{@value #ATTEMPTS} (counter): every attempt at a named upstream (each retry and fallback), tagged
 *       {@code upstream} (its configured name) and {@code outcome} (the status, or {@code error},
 *       {@code timeout}, {@code no-key}, {@code open}, {@code unsupported}).
 *   <li>{@value #IMAGES_NOT_STORED} (counter): image generations whose images could not be stored (the client
 *       got the upstream's answer with {@code x-openai-proxy-image-stored: false}), tagged {@code reason}
 *       (for example {@code fetch_refused_host}, {@code too_large}, {@code not_an_image}, {@code store_failed}).
 *   <li>{@value #USAGE_TOKENS} (counter): the tokens of every request that reached the upstream, as the usage
 *       ledger records them (streams without {@code include_usage} and cancelled ones included, estimated when the
 *       upstream gave no numbers), tagged {@code policy}, {@code model} (the model that answered, else the one
 *       asked for) and {@code type} ({@code input}, {@code output}, {@code cached}, {@code reasoning}: cached are
 *       part of input, reasoning of output);
 *   <li>{@value #COST} (counter): their cost in US dollars, tagged {@code policy} and {@code model}.
 * </ul>
 *
 * <p>{@value #TOKENS} and {@value #USAGE_TOKENS} are two names because their tags differ: a Prometheus registry
 * refuses one name with two sets of tag keys.
 *
 * A GraphQL call counts once, as a request on its own route: the requests it runs through the proxy's
 * routes on the caller's behalf ({@link #beginSubRequest sub-requests}) add their upstream latency and
 * tokens, not requests, streams or first events of their own.
 *
 * <p>Every tag has a bounded set of values: routes are the configured templates, and models are bounded as
 * {@link ModelTags} explains (set {@code openai.proxy.metrics.max-model-tags}); refusal reasons and policy
 * names come from small fixed sets, and are bounded the same way ({@value #MAX_ACCESS_TAGS} values each) in
 * case a policy store holds more than expected; so are the reasons an image was not stored
 * ({@value #MAX_IMAGE_REASONS} values).
 */
public final class MicrometerProxyObserver implements ProxyObserver {
    public static final String REQUESTS = "openai.proxy.requests";
    public static final String UPSTREAM_LATENCY = "openai.proxy.upstream.latency";
    public static final String FIRST_EVENT = "openai.proxy.stream.first-event";
    public static final String ACTIVE_STREAMS = "openai.proxy.streams.active";
    public static final String TOKENS = "openai.proxy.tokens";
    public static final String REFUSALS = "openai.proxy.access.refusals";
    public static final String ATTEMPTS = "openai.proxy.upstream.attempts";
    public static final String IMAGES_NOT_STORED = "openai.proxy.images.not-stored";
    public static final String USAGE_TOKENS = "openai.proxy.usage.tokens";
    public static final String COST = "openai.proxy.cost";

    /** The most distinct values of the refusal counter's {@code reason} and of its {@code policy} tag. */
    static final int MAX_ACCESS_TAGS = 100;
    /** The most distinct values of the not-stored counter's {@code reason} tag (the core has about ten). */
    static final int MAX_IMAGE_REASONS = 20;

    private final Meter.MeterProvider<Timer> requests;
    private final Meter.MeterProvider<Timer> upstreamLatency;
    private final Meter.MeterProvider<Timer> firstEvent;
    private final Meter.MeterProvider<Counter> tokens;
    private final AtomicInteger activeStreams = new AtomicInteger();
    private final ModelTags models;
    private final Meter.MeterProvider<Counter> refusals;
    // Not models, but the same bound: a value of the allowed shape, while fewer than the maximum are known.
    /** Bounded tag values of the metrics: "none" for no value, "other" past the bound, ids up to 100 characters. */
    static ModelTags tags(int max) {
        return new ModelTags(max, "none", "other", 100);
    }

    private final ModelTags reasons = tags(MAX_ACCESS_TAGS);
    private final ModelTags policies = tags(MAX_ACCESS_TAGS);
    private final Meter.MeterProvider<Counter> attempts;
    // Upstream names come from configuration and outcomes from a small set; bounded all the same.
    private final ModelTags upstreams = tags(MAX_ACCESS_TAGS);
    private final ModelTags outcomes = tags(MAX_ACCESS_TAGS);
    private final Meter.MeterProvider<Counter> imagesNotStored;
    private final ModelTags imageReasons = tags(MAX_IMAGE_REASONS);
    private final Meter.MeterProvider<Counter> usageTokens;
    private final Meter.MeterProvider<Counter> cost;

    /**
     * @param maxModelTags the most distinct values of the {@code model} tag
     */
    public MicrometerProxyObserver(MeterRegistry registry, int maxModelTags) {
        this.models = tags(maxModelTags);
        this.requests = Timer.builder(REQUESTS)
                .description("Requests to the proxy, by route, status and model")
                .withRegistry(registry);
        this.upstreamLatency = Timer.builder(UPSTREAM_LATENCY)
                .description("Time to the upstream's response headers")
                .withRegistry(registry);
        this.firstEvent = Timer.builder(FIRST_EVENT)
                .description("Time from the request to the first event of a stream")
                .withRegistry(registry);
        this.tokens = Counter.builder(TOKENS)
                .description("Tokens the upstream reported in usage")
                .baseUnit("tokens")
                .withRegistry(registry);
        this.refusals = Counter.builder(REFUSALS)
                .description("Requests the access checks refused, by reason and policy")
                .withRegistry(registry);
        this.attempts = Counter.builder(ATTEMPTS)
                .description("Attempts at named upstreams, retries and fallbacks included, by upstream and outcome")
                .withRegistry(registry);
        this.imagesNotStored = Counter.builder(IMAGES_NOT_STORED)
                .description("Image generations whose images could not be stored, by reason")
                .withRegistry(registry);
        this.usageTokens = Counter.builder(USAGE_TOKENS)
                .description("Tokens of the requests that reached the upstream, by policy, model and type")
                .baseUnit("tokens")
                .withRegistry(registry);
        this.cost = Counter.builder(COST)
                .description("Cost of the requests that reached the upstream, in US dollars, by policy and model")
                .baseUnit("usd")
                .withRegistry(registry);
        Gauge.builder(ACTIVE_STREAMS, activeStreams, AtomicInteger::get)
                .description("Streams open to clients")
                .strongReference(true)
                .register(registry);
    }

    @Override
    public Observation begin(String method, String path) {
        return new Observed(false);
    }

    @Override
    public Observation beginSubRequest(String method, String path) {
        return new Observed(true);
    }

    /** One request. Its callbacks come one after the other, but not always on the same thread. */
    private final class Observed implements Observation {
        /** A sub-request: its client's request is counted already. */
        private final boolean subRequest;

        private volatile String route;
        private volatile String model;
        private volatile int upstreamStatus = -1;
        private volatile Duration upstreamTime;
        private final AtomicBoolean upstreamRecorded = new AtomicBoolean();
        private final AtomicBoolean streamOpen = new AtomicBoolean();

        Observed(boolean subRequest) {
            this.subRequest = subRequest;
        }

        @Override
        public void routed(String route, Optional<String> model) {
            this.route = route;
            this.model = model.orElse(null);
            recordUpstream();
        }

        @Override
        public void upstreamResponded(int status, Duration latency) {
            this.upstreamStatus = status;
            this.upstreamTime = latency;
            recordUpstream();
        }

        private void recordUpstream() {
            // Whichever of the two callbacks comes second records: the latency needs the route.
            if (route != null && upstreamTime != null && upstreamRecorded.compareAndSet(false, true)) {
                upstreamLatency
                        .withTags("route", route, "status", Integer.toString(upstreamStatus))
                        .record(upstreamTime);
            }
        }

        @Override
        public void streamOpened() {
            if (!subRequest && streamOpen.compareAndSet(false, true)) {
                activeStreams.incrementAndGet();
            }
        }

        @Override
        public void firstEvent(Duration sinceStart) {
            if (subRequest) {
                return;
            }
            firstEvent
                    .withTags("route", route(), "model", models.tag(model, upstreamAccepted()))
                    .record(sinceStart);
        }

        @Override
        public void usage(Usage usage) {
            String tag = models.tag(model, true); // usage comes only with successful answers
            if (usage.inputTokens() > 0) {
                tokens.withTags("model", tag, "type", "input").increment(usage.inputTokens());
            }
            if (usage.outputTokens() > 0) {
                tokens.withTags("model", tag, "type", "output").increment(usage.outputTokens());
            }
        }

        @Override
        public void refused(String reason, String policy) {
            // A sub-request inherits its client's identity: its refusal is counted too, as its own request.
            refusals.withTags("reason", reasons.tag(reason, true), "policy", policies.tag(policy, true))
                    .increment();
        }

        @Override
        public void upstreamAttempt(String upstream, String outcome) {
            attempts.withTags("upstream", upstreams.tag(upstream, true), "outcome", outcomes.tag(outcome, true))
                    .increment();
        }

        @Override
        public void imageNotStored(String reason) {
            // Counted for sub-requests too: GraphQL's generateImage stores its images in one.
            imagesNotStored.withTags("reason", imageReasons.tag(reason, true)).increment();
        }

        @Override
        public void metered(UsageRecord r) {
            // Bounded as the other tags: a model becomes a value once the upstream answered it successfully.
            String answering = r.answeringModel() != null ? r.answeringModel() : r.requestedModel();
            String modelTag = models.tag(answering, r.upstreamStatus() >= 200 && r.upstreamStatus() < 300);
            String policyTag = policies.tag(r.policy(), true);
            TokenUsage u = r.usage();
            count(policyTag, modelTag, "input", u.inputTokens());
            count(policyTag, modelTag, "output", u.outputTokens());
            count(policyTag, modelTag, "cached", u.cachedInputTokens());
            count(policyTag, modelTag, "reasoning", u.reasoningTokens());
            if (r.costNanoUsd() > 0) {
                cost.withTags("policy", policyTag, "model", modelTag).increment(r.costNanoUsd() / 1e9);
            }
        }

        private void count(String policy, String model, String type, long n) {
            if (n > 0) {
                usageTokens
                        .withTags("policy", policy, "model", model, "type", type)
                        .increment(n);
            }
        }

        @Override
        public void finished(int status, boolean streamed, Outcome outcome, Duration duration) {
            if (streamOpen.compareAndSet(true, false)) {
                activeStreams.decrementAndGet();
            }
            if (subRequest) {
                return;
            }
            requests.withTags(
                            "route", route(),
                            "status", Integer.toString(status),
                            "model", models.tag(model, status < 300 && upstreamAccepted()),
                            "outcome", outcome.name(),
                            "streamed", Boolean.toString(streamed))
                    .record(duration);
        }

        private String route() {
            String r = route;
            return r == null ? "unmatched" : r;
        }

        private boolean upstreamAccepted() {
            int s = upstreamStatus;
            return s >= 200 && s < 300;
        }
    }
}
