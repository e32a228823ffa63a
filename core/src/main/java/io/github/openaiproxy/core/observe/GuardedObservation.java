package io.github.openaiproxy.core.observe;

import io.github.openaiproxy.core.internal.Internal;
import java.time.Duration;
import java.util.Optional;

/**
 * Shields the proxy from its observers: an exception thrown by an observer is logged and dropped, so
 * a faulty metrics binding can never fail or hang a request.
 */
@Internal
public final class GuardedObservation implements ProxyObserver.Observation {
    private static final System.Logger LOG = System.getLogger(GuardedObservation.class.getName());

    private final ProxyObserver.Observation delegate;

    private GuardedObservation(ProxyObserver.Observation delegate) {
        this.delegate = delegate;
    }

    /**
     * Begins an observation on {@code observer}, guarded; {@link ProxyObserver.Observation#NONE} stays as is.
     *
     * @param subRequest whether a module's route runs this request on a client's behalf
     */
    public static ProxyObserver.Observation begin(
            ProxyObserver observer, String method, String path, boolean subRequest) {
        return begin(observer, method, path, null, subRequest);
    }

    /**
     * As {@link #begin(ProxyObserver, String, String, boolean)}, with the request's headers for observers that read
     * trace context ({@code null}: none).
     */
    public static ProxyObserver.Observation begin(
            ProxyObserver observer, String method, String path, java.net.http.HttpHeaders headers, boolean subRequest) {
        if (observer == ProxyObserver.NONE) {
            return ProxyObserver.Observation.NONE;
        }
        try {
            ProxyObserver.Observation e = subRequest
                    ? headers == null
                            ? observer.beginSubRequest(method, path)
                            : observer.beginSubRequest(method, path, headers)
                    : headers == null ? observer.begin(method, path) : observer.begin(method, path, headers);
            return e == null || e == ProxyObserver.Observation.NONE
                    ? ProxyObserver.Observation.NONE
                    : new GuardedObservation(e);
        } catch (RuntimeException e) {
            failed("begin", e);
            return ProxyObserver.Observation.NONE;
        }
    }

    @Override
    public void routed(String route, Optional<String> model) {
        run("routed", () -> delegate.routed(route, model));
    }

    @Override
    public void upstreamResponded(int status, Duration latency) {
        run("upstreamResponded", () -> delegate.upstreamResponded(status, latency));
    }

    @Override
    public void firstEvent(Duration sinceStart) {
        run("firstEvent", () -> delegate.firstEvent(sinceStart));
    }

    @Override
    public void streamOpened() {
        run("streamOpened", delegate::streamOpened);
    }

    @Override
    public void usage(Usage usage) {
        run("usage", () -> delegate.usage(usage));
    }

    @Override
    public void refused(String reason, String policy) {
        run("refused", () -> delegate.refused(reason, policy));
    }

    @Override
    public void upstreamAttempt(String upstream, String outcome) {
        run("upstreamAttempt", () -> delegate.upstreamAttempt(upstream, outcome));
    }

    @Override
    public void upstreamAttemptStarted(
            String upstream, String kind, String model, java.util.function.BiConsumer<String, String> headers) {
        run("upstreamAttemptStarted", () -> delegate.upstreamAttemptStarted(upstream, kind, model, headers));
    }

    @Override
    public void responseModel(String model) {
        run("responseModel", () -> delegate.responseModel(model));
    }

    @Override
    public void imageNotStored(String reason) {
        run("imageNotStored", () -> delegate.imageNotStored(reason));
    }

    @Override
    public void metered(io.github.openaiproxy.core.usage.UsageRecord record) {
        run("metered", () -> delegate.metered(record));
    }

    @Override
    public void finished(int status, boolean streamed, Outcome outcome, Duration duration) {
        run("finished", () -> delegate.finished(status, streamed, outcome, duration));
    }

    private static void run(String callback, Runnable r) {
        try {
            r.run();
        } catch (RuntimeException e) {
            failed(callback, e);
        }
    }

    private static void failed(String callback, RuntimeException e) {
        LOG.log(System.Logger.Level.WARNING, "proxy observer failed in " + callback + "; ignored", e);
    }
}
