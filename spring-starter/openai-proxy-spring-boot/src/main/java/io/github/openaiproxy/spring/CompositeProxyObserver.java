package io.github.openaiproxy.spring;

import io.github.openaiproxy.core.observe.Outcome;
import io.github.openaiproxy.core.observe.ProxyObserver;
import io.github.openaiproxy.core.observe.Usage;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;
import org.apache.commons.logging.Log;
import org.apache.commons.logging.LogFactory;

/**
 * The application's observers as the engine's one observer, in order. Observers must not throw; one that
 * does anyway is logged and skipped, so it can neither break a request nor keep the others from seeing it.
 */
final class CompositeProxyObserver implements ProxyObserver {
    private static final Log LOG = LogFactory.getLog(CompositeProxyObserver.class);

    private final List<ProxyObserver> observers;
    private final boolean wantsDetails;

    private CompositeProxyObserver(List<ProxyObserver> observers) {
        this.observers = List.copyOf(observers);
        this.wantsDetails = observers.stream().anyMatch(ProxyObserver::wantsDetails);
    }

    /** The observers as one; {@link ProxyObserver#NONE} when there are none. */
    static ProxyObserver of(List<ProxyObserver> observers) {
        List<ProxyObserver> real =
                observers.stream().filter(o -> o != ProxyObserver.NONE).toList();
        return real.isEmpty() ? ProxyObserver.NONE : new CompositeProxyObserver(real);
    }

    @Override
    public Exchange begin(String method, String path) {
        return beginEach(o -> o.begin(method, path));
    }

    @Override
    public Exchange beginSubRequest(String method, String path) {
        return beginEach(o -> o.beginSubRequest(method, path));
    }

    private Exchange beginEach(java.util.function.Function<ProxyObserver, Exchange> begin) {
        List<Exchange> exchanges = new ArrayList<>(observers.size());
        for (ProxyObserver o : observers) {
            try {
                Exchange e = begin.apply(o);
                if (e != null && e != Exchange.NONE) {
                    exchanges.add(e);
                }
            } catch (RuntimeException e) {
                failed(e);
            }
        }
        return exchanges.isEmpty() ? Exchange.NONE : new CompositeExchange(exchanges);
    }

    @Override
    public boolean wantsDetails() {
        return wantsDetails;
    }

    private static void failed(RuntimeException e) {
        LOG.warn("A ProxyObserver failed (observers must not throw); it is skipped for this call", e);
    }

    private record CompositeExchange(List<Exchange> exchanges) implements Exchange {
        private void each(Consumer<Exchange> call) {
            for (Exchange e : exchanges) {
                try {
                    call.accept(e);
                } catch (RuntimeException failure) {
                    failed(failure);
                }
            }
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
            each(Exchange::streamOpened);
        }

        @Override
        public void usage(Usage usage) {
            each(e -> e.usage(usage));
        }

        @Override
        public void finished(int status, boolean streamed, Outcome outcome, Duration duration) {
            each(e -> e.finished(status, streamed, outcome, duration));
        }
    }
}
