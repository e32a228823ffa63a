package io.github.openaiproxy.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.internal.HeaderMap;
import io.github.openaiproxy.core.observe.CompositeProxyObserver;
import io.github.openaiproxy.core.observe.GuardedObservation;
import io.github.openaiproxy.core.observe.ProxyObserver;
import io.github.openaiproxy.core.upstream.NamedUpstream;
import io.github.openaiproxy.core.upstream.UpstreamRequest;
import java.net.URI;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.BiConsumer;
import org.junit.jupiter.api.Test;

/**
 * The headers observers add to an upstream call (trace context): every observer is asked, what they add is sent,
 * but never in place of a header the proxy set (its key), never a malformed or injected header, and nothing at all
 * without an observer.
 */
class ObservedUpstreamCallTest {
    private static final UpstreamRequest REQUEST = new UpstreamRequest(
            "POST",
            URI.create("http://127.0.0.1:1/v1/chat/completions"),
            new HeaderMap().set("Authorization", "Bearer sk-real").build(),
            new byte[] {'{', '}'});

    private static ProxyObserver adding(List<String> calls, String... pairs) {
        return (method, path) -> new ProxyObserver.Observation() {
            @Override
            public void upstreamAttemptStarted(
                    String upstream, String kind, String model, BiConsumer<String, String> headers) {
                calls.add(upstream + " " + kind + " " + model);
                for (int i = 0; i < pairs.length; i += 2) {
                    headers.accept(pairs[i], pairs[i + 1]);
                }
            }
        };
    }

    @Test
    void everyObserverAddsItsHeadersButNeverReplacesTheProxysOrInjectsOne() {
        List<String> calls = new CopyOnWriteArrayList<>();
        ProxyObserver both = CompositeProxyObserver.of(List.of(
                adding(calls, "traceparent", "00-abc-def-01", "authorization", "Bearer stolen"),
                adding(calls, "tracestate", "v=1", "X-Evil", "a\r\nX-Injected: b", "bad name", "x", "Proxy-X", "y")));
        ProxyObserver.Observation observation = GuardedObservation.begin(both, "POST", "/v1/chat/completions", false);

        UpstreamRequest sent =
                ObservedUpstreamCall.started(REQUEST, observation, "azure", NamedUpstream.Kind.AZURE, "prod-gpt4o");

        assertThat(calls).containsExactly("azure azure prod-gpt4o", "azure azure prod-gpt4o");
        assertThat(sent.headers().map())
                .containsEntry("traceparent", List.of("00-abc-def-01"))
                .containsEntry("tracestate", List.of("v=1"))
                .containsEntry("Authorization", List.of("Bearer sk-real"))
                .doesNotContainKeys("X-Evil", "bad name", "Proxy-X");
        assertThat(sent.headers().map()).hasSize(3);
        assertThat(sent.body()).isSameAs(REQUEST.body());
    }

    @Test
    void withoutAnObserverOrAnyHeaderTheRequestIsTheSame() {
        assertThat(ObservedUpstreamCall.started(
                        REQUEST, ProxyObserver.Observation.NONE, "openai", NamedUpstream.Kind.OPENAI, null))
                .isSameAs(REQUEST);
        ProxyObserver.Observation quiet =
                GuardedObservation.begin((m, p) -> new ProxyObserver.Observation() {}, "POST", "/", false);
        assertThat(ObservedUpstreamCall.started(REQUEST, quiet, "openai", NamedUpstream.Kind.OPENAI, null))
                .isSameAs(REQUEST);
    }
}
