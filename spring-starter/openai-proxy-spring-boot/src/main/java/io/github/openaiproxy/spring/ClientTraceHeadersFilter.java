package io.github.openaiproxy.spring;

import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.servlet.OpenAiProxyFilter;
import jakarta.servlet.Filter;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletRequest;
import jakarta.servlet.ServletResponse;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletRequestWrapper;
import java.io.IOException;
import java.util.Collection;
import java.util.Collections;
import java.util.Enumeration;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.function.Supplier;
import java.util.stream.Collectors;

/**
 * Hides a client's trace context headers from a request to the proxy's routes, before Boot's HTTP server observation
 * ({@code ServerHttpObservationFilter}) reads them: with {@code tracing.client-context=ignore} a client must not
 * choose the trace id, nor force the sampling, of the server span either. The application's other routes are passed
 * on untouched.
 */
final class ClientTraceHeadersFilter implements Filter {
    /** What Boot's propagation types read (W3C, B3 single and multi), whatever propagator beans say besides. */
    static final List<String> STANDARD = List.of(
            "traceparent",
            "tracestate",
            "baggage",
            "b3",
            "x-b3-traceid",
            "x-b3-spanid",
            "x-b3-parentspanid",
            "x-b3-sampled",
            "x-b3-flags");

    private final ProxyEngine engine;
    private final Supplier<Collection<String>> more;
    private volatile Set<String> hidden;

    /**
     * @param more the fields of the application's propagators (baggage remote fields, other formats), asked once
     *     at the first request: the tracing beans may be created after this filter
     */
    ClientTraceHeadersFilter(ProxyEngine engine, Supplier<Collection<String>> more) {
        this.engine = engine;
        this.more = more;
    }

    @Override
    public void doFilter(ServletRequest req, ServletResponse res, FilterChain chain)
            throws IOException, ServletException {
        if (req instanceof HttpServletRequest request && isTheProxys(request)) {
            chain.doFilter(new Hiding(request, hidden()), res);
            return;
        }
        chain.doFilter(req, res);
    }

    private Set<String> hidden() {
        Set<String> h = hidden;
        if (h == null) {
            h = java.util.stream.Stream.concat(STANDARD.stream(), more.get().stream())
                    .map(n -> n.toLowerCase(Locale.ROOT))
                    .collect(Collectors.toUnmodifiableSet());
            hidden = h;
        }
        return h;
    }

    /** Below a prefix every path is the proxy's (its servlet's mapping); at the root only what it serves. */
    private boolean isTheProxys(HttpServletRequest request) {
        return !engine.config().path().equals("/") // registered for the mount's pattern only
                || OpenAiProxyFilter.serves(engine, request);
    }

    /** The request without the hidden headers, for every reader down the chain (the proxy's own included). */
    private static final class Hiding extends HttpServletRequestWrapper {
        private final Set<String> hidden;

        Hiding(HttpServletRequest request, Set<String> hidden) {
            super(request);
            this.hidden = hidden;
        }

        private boolean hides(String name) {
            return name != null && hidden.contains(name.toLowerCase(Locale.ROOT));
        }

        @Override
        public String getHeader(String name) {
            return hides(name) ? null : super.getHeader(name);
        }

        @Override
        public Enumeration<String> getHeaders(String name) {
            return hides(name) ? Collections.emptyEnumeration() : super.getHeaders(name);
        }

        @Override
        public Enumeration<String> getHeaderNames() {
            return new Without(super.getHeaderNames());
        }

        @Override
        public long getDateHeader(String name) {
            return hides(name) ? -1 : super.getDateHeader(name);
        }

        @Override
        public int getIntHeader(String name) {
            return hides(name) ? -1 : super.getIntHeader(name);
        }

        /** The names as they come, less the hidden ones: no list of them per request. */
        private final class Without implements Enumeration<String> {
            private final Enumeration<String> all;
            private String next;

            Without(Enumeration<String> all) {
                this.all = all;
                this.next = advance();
            }

            private String advance() {
                while (all.hasMoreElements()) {
                    String name = all.nextElement();
                    if (!hides(name)) {
                        return name;
                    }
                }
                return null;
            }

            @Override
            public boolean hasMoreElements() {
                return next != null;
            }

            @Override
            public String nextElement() {
                if (next == null) {
                    throw new java.util.NoSuchElementException();
                }
                String name = next;
                next = advance();
                return name;
            }
        }
    }
}
