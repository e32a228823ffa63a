package io.github.openaiproxy.core.observe;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * Several observers as one, called in order (what {@code ProxyEngine.Builder#observer} builds when it is
 * given more than one). Observers must not throw; each one's observation is wrapped in a
 * {@link GuardedObservation}, so one that throws anyway is logged and skipped, and can neither break a
 * request nor keep the others from seeing it.
 */
public final class CompositeProxyObserver implements ProxyObserver {
    private final List<ProxyObserver> observers;
    private final boolean wantsDetails;

    private CompositeProxyObserver(List<ProxyObserver> observers) {
        this.observers = List.copyOf(observers);
        this.wantsDetails = observers.stream().anyMatch(ProxyObserver::wantsDetails);
    }

    /**
     * The observers as one: {@link ProxyObserver#NONE} when there are none, the observer itself when there
     * is one (the engine guards it), else a composite.
     */
    public static ProxyObserver of(List<ProxyObserver> observers) {
        List<ProxyObserver> real =
                observers.stream().filter(o -> o != ProxyObserver.NONE).toList();
        return switch (real.size()) {
            case 0 -> ProxyObserver.NONE;
            case 1 -> real.get(0);
            default -> new CompositeProxyObserver(real);
        };
    }

    @Override
    public Observation begin(String method, String path) {
        return beginEach(method, path, false);
    }

    @Override
    public Observation begin(String method, String path, java.net.http.HttpHeaders headers) {
        return beginEach(method, path, headers, false);
    }

    @Override
    public Observation beginSubRequest(String method, String path) {
        return beginEach(method, path, null, true);
    }

    @Override
    public Observation beginSubRequest(String method, String path, java.net.http.HttpHeaders headers) {
        return beginEach(method, path, headers, true);
    }

    private Observation beginEach(String method, String path, boolean subRequest) {
        return beginEach(method, path, null, subRequest);
    }

    private Observation beginEach(String method, String path, java.net.http.HttpHeaders headers, boolean subRequest) {
        List<Observation> observations = new ArrayList<>(observers.size());
        for (ProxyObserver o : observers) {
            Observation e = GuardedObservation.begin(o, method, path, headers, subRequest);
            if (e != Observation.NONE) {
                observations.add(e);
            }
        }
        return observations.isEmpty() ? Observation.NONE : new CompositeObservation(observations);
    }

    @Override
    public boolean wantsDetails() {
        return wantsDetails;
    }

    /** Each observation is a {@link GuardedObservation}: none of these calls throws. */
    private record CompositeObservation(List<Observation> observations) implements Observation {
        private void each(Consumer<Observation> call) {
            observations.forEach(call);
        }

        @Override
        public void routed(String route, Optional<String> model) {
            each(e -> e.routed(route, model));
        }

        @Override
        public void upstreamResponded(int status, Duration latency) {
            each(e -> e.upstreamResponded(status, latency));
        }

        @Override
        public void firstEvent(Duration sinceStart) {
            each(e -> e.firstEvent(sinceStart));
        }

        @Override
        public void streamOpened() {
            each(Observation::streamOpened);
        }

        @Override
        public void usage(Usage usage) {
            each(e -> e.usage(usage));
        }

        @Override
        public void refused(String reason, String policy) {
            each(e -> e.refused(reason, policy));
        }

        @Override
        public void upstreamAttempt(String upstream, String outcome) {
            each(e -> e.upstreamAttempt(upstream, outcome));
        }

        @Override
        public void upstreamAttemptStarted(
                String upstream, String kind, String model, java.util.function.BiConsumer<String, String> headers) {
            each(e -> e.upstreamAttemptStarted(upstream, kind, model, headers));
        }

        @Override
        public void responseModel(String model) {
            each(e -> e.responseModel(model));
        }

        @Override
        public void imageNotStored(String reason) {
            each(e -> e.imageNotStored(reason));
        }

        @Override
        public void metered(io.github.openaiproxy.core.usage.UsageRecord record) {
            each(e -> e.metered(record));
        }

        @Override
        public void finished(int status, boolean streamed, Outcome outcome, Duration duration) {
            each(e -> e.finished(status, streamed, outcome, duration));
        }
    }
}
