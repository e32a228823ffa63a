package io.github.openaiproxy.core;

import io.github.openaiproxy.core.internal.HeaderMap;
import io.github.openaiproxy.core.observe.ProxyObserver;
import io.github.openaiproxy.core.upstream.NamedUpstream;
import io.github.openaiproxy.core.upstream.UpstreamRequest;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * Tells the observers an upstream call is about to go ({@link ProxyObserver.Observation#upstreamAttemptStarted})
 * and adds the headers they hand back (W3C trace context) to that call. Without an observer the request goes as
 * it is, at no cost. An observer can only add headers the request does not carry: the proxy's own (its key above
 * all) are never replaced, and a name or value that is no valid header is dropped.
 */
final class ObservedUpstreamCall {
    private static final Pattern TOKEN = Pattern.compile("[!#$%&'*+.^_`|~0-9A-Za-z-]+");

    private ObservedUpstreamCall() {}

    static UpstreamRequest started(
            UpstreamRequest request,
            ProxyObserver.Observation observation,
            String upstream,
            NamedUpstream.Kind kind,
            String model) {
        if (observation == ProxyObserver.Observation.NONE) {
            return request;
        }
        HeaderMap[] added = new HeaderMap[1];
        String kindName = kind.name().toLowerCase(Locale.ROOT);
        observation.upstreamAttemptStarted(upstream, kindName, model, (name, value) -> {
            if (name == null
                    || value == null
                    || !TOKEN.matcher(name).matches()
                    || request.headers().firstValue(name).isPresent()
                    || !value.chars().allMatch(c -> c >= 0x20 && c < 0x7f)
                    || name.toLowerCase(Locale.ROOT).startsWith("proxy-")) {
                return;
            }
            if (added[0] == null) {
                added[0] = new HeaderMap().addAll(request.headers());
            }
            added[0].set(name, value);
        });
        if (added[0] == null) {
            return request;
        }
        return new UpstreamRequest(
                request.method(), request.uri(), added[0].build(), request.body(), request.streamedBody());
    }
}
