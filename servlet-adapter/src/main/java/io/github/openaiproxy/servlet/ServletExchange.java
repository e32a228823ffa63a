package io.github.openaiproxy.servlet;

import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.http.AuthenticatedUser;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.http.ProxyResponse;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.AsyncEvent;
import jakarta.servlet.AsyncListener;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import jakarta.servlet.http.HttpServletResponseWrapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.Principal;
import java.util.Enumeration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Flow;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

/** Runs one request through the engine: translation only, every decision is the engine's. */
final class ServletExchange {
    private static final System.Logger LOG = System.getLogger(ServletExchange.class.getName());

    /**
     * Spring's {@code ShallowEtagHeaderFilter.disableContentCaching} by its name: the filter buffers a response to
     * hash it and writes the buffer only when the request ends synchronously, so an asynchronous answer would reach
     * the client empty. With it the filter passes the proxy's answers straight through.
     */
    static final String SPRING_ETAG_STREAMING = "org.springframework.web.filter.ShallowEtagHeaderFilter.STREAMING";

    private ServletExchange() {}

    /**
     * Hands a request to the engine asynchronously.
     *
     * @param relativePath the request path relative to where the proxy is mounted (still encoded)
     * @param mapping where the proxy is mounted in its web application, as configured ({@code /ai}; empty: at its
     *     root)
     */
    static void run(
            ProxyEngine engine,
            HttpServletRequest request,
            HttpServletResponse given,
            String relativePath,
            String mapping)
            throws IOException {
        HttpServletResponse response = beneathBodyCaches(given);
        if (!request.isAsyncSupported()) {
            refuseSync(
                    given,
                    "the proxy's servlet or filter, or a filter in front of it, is registered without async support;"
                            + " set asyncSupported=true (<async-supported>true</async-supported>) on each",
                    "The proxy, or a filter in front of it, is registered without async support; set"
                            + " asyncSupported=true on each");
            return;
        }
        if (bodyReadInFront(request)) {
            refuseSync(
                    given,
                    "a filter in front of the proxy read the request body (its input stream or reader, or getParameter"
                            + " on a form or multipart POST, as Spring's HiddenHttpMethodFilter does); keep it off the"
                            + " proxy's path",
                    "A filter in front of the proxy read the request body (its input stream or reader, or getParameter"
                            + " on a form or multipart POST); keep such filters off the proxy's path");
            return;
        }
        request.setAttribute(SPRING_ETAG_STREAMING, Boolean.TRUE);
        AsyncContext async = request.startAsync(request, response);
        // The engine owns the timeouts; an event stream may legitimately run for minutes.
        async.setTimeout(0);
        // Opened when the body is read, not now: a request refused unread is not asked for its body.
        RequestBodyPublisher requestBody =
                new RequestBodyPublisher(request::getInputStream, request.getContentLengthLong());
        ProxyRequest.Builder b = ProxyRequest.builder(request.getMethod(), relativePath)
                .rawQuery(request.getQueryString())
                .requestOrigin(requestOrigin(request))
                // The connection's peer, for the per-client limits; forwarding headers are not trusted here.
                .remoteAddress(request.getRemoteAddr())
                .user(user(request, engine))
                .body(requestBody);
        basePath(b, request.getServletContext().getContextPath() + mapping);
        // Walked as they come: no list of names, nor of each header's values, per request.
        for (Enumeration<String> names = request.getHeaderNames(); names.hasMoreElements(); ) {
            String name = names.nextElement();
            for (Enumeration<String> values = request.getHeaders(name); values.hasMoreElements(); ) {
                b.header(name, values.nextElement());
            }
        }
        ResponseBodyWriter writer = new ResponseBodyWriter(async, response);
        writer.beforeCompleting(complete -> readToTheEnd(request, requestBody, complete));
        writer.listen();
        CompletableFuture<ProxyResponse> answer = engine.handle(b.build());
        // The listener cancels the engine's call while it runs; it lives as long as the exchange (a
        // stream's minutes), so it lets go of the answer, and the headers in it, once the answer is in.
        AtomicReference<CompletableFuture<ProxyResponse>> running = new AtomicReference<>(answer);
        async.addListener(new AsyncListener() {
            @Override
            public void onComplete(AsyncEvent event) {
                ended();
            }

            @Override
            public void onTimeout(AsyncEvent event) {
                ended();
            }

            @Override
            public void onError(AsyncEvent event) {
                ended();
            }

            @Override
            public void onStartAsync(AsyncEvent event) {}

            /** From here on the container may recycle the request and response: see ResponseBodyWriter. */
            private void ended() {
                CompletableFuture<ProxyResponse> call = running.getAndSet(null);
                if (call != null) {
                    call.cancel(false);
                }
                requestBody.end();
                writer.containerEnded();
            }
        });
        answer.whenComplete((r, error) -> {
            running.set(null); // done: cancelling it would do nothing
            if (error != null) {
                writer.abort(); // cancelled: the client is gone
                return;
            }
            writer.start(r);
        });
    }

    /**
     * Reads and drops a request body nothing read (an early refusal: a 413 for its declared length, a 401, a 429), or
     * the rest of one whose start was held and nothing took the rest (an upload refused after routing), before the
     * exchange completes, so that a client still sending it can finish and then read the answer.
     * Tomcat closes the connection after some statuses (413 among them) and, for an async request, does so
     * without reading what is left of the body; the client's next write then meets a reset, and a client that
     * reports its write error rather than the answer it already has (Node's fetch, under the OpenAI Node SDK)
     * sees a connection error instead of the 413, and retries. As much as Tomcat swallows by default at most
     * ({@link #MAX_DROPPED_BODY}); a body declared larger, or one unread sent with {@code Expect: 100-continue} (whose
     * client waits to be asked for it), is left as before.
     */
    private static void readToTheEnd(HttpServletRequest request, RequestBodyPublisher body, Runnable complete) {
        long declared = request.getContentLengthLong();
        boolean hasBody = declared > 0 || (declared < 0 && request.getHeader("Transfer-Encoding") != null);
        if (!hasBody || declared > MAX_DROPPED_BODY) {
            complete.run();
        } else if (body.unread()) {
            if (request.getHeader("Expect") != null) {
                complete.run(); // its client waits to be asked for the body, and was not
            } else {
                body.subscribe(new DropBody(MAX_DROPPED_BODY, complete));
            }
        } else if (body.partlyRead()) {
            // Read in part, so a client that sent Expect: 100-continue was asked for it and is sending it too.
            body.dropRest(new DropBody(MAX_DROPPED_BODY, complete));
        } else {
            complete.run();
        }
    }

    /** Tomcat's default {@code maxSwallowSize}: what it reads and drops of a body a servlet left unread. */
    static final long MAX_DROPPED_BODY = 2L * 1024 * 1024;

    /** Reads a body to its end and drops it, up to a bound; then (or on any error) runs {@code then}, once. */
    static final class DropBody implements Flow.Subscriber<ByteBuffer> {
        private final long max;
        private final Runnable then;
        private final AtomicBoolean ended = new AtomicBoolean();
        private Flow.Subscription subscription;
        private long dropped;

        DropBody(long max, Runnable then) {
            this.max = max;
            this.then = then;
        }

        @Override
        public void onSubscribe(Flow.Subscription s) {
            subscription = s;
            s.request(Long.MAX_VALUE);
        }

        @Override
        public void onNext(ByteBuffer item) {
            dropped += item.remaining();
            if (dropped > max) {
                subscription.cancel();
                end();
            }
        }

        @Override
        public void onError(Throwable t) {
            end();
        }

        @Override
        public void onComplete() {
            end();
        }

        private void end() {
            if (ended.compareAndSet(false, true)) {
                then.run();
            }
        }
    }

    /**
     * The request path inside the web application as the client sent it: still encoded, with its path
     * parameters ({@code ;jsessionid=...}), doubled slashes and case. The engine answers only the exact
     * form of its routes, so a variant the container maps to the proxy (or that a host application's
     * security rule does not recognize) is a 404, never a way around that rule.
     */
    static String pathWithinApplication(HttpServletRequest request) {
        String uri = request.getRequestURI();
        String context = request.getContextPath();
        String path = context != null && !context.isEmpty() && uri.startsWith(context)
                ? uri.substring(context.length())
                : uri;
        return path.isEmpty() ? "/" : path;
    }

    /**
     * Where the proxy's routes hang from, from the container's configuration (the application's context path and
     * the proxy's mapping), not from the request's path; the proxy's links start with it. An odd one is left out,
     * not a failure: links then start with the configured path, and {@code images.public-base-url} sets them.
     */
    private static void basePath(ProxyRequest.Builder b, String basePath) {
        try {
            b.basePath(basePath);
        } catch (IllegalArgumentException e) {
            LOG.log(System.Logger.Level.DEBUG, "openai-proxy: base path not usable in links: {0}", e.getMessage());
        }
    }

    /**
     * The user the container or the application's security (a realm, Spring Security, Jakarta Security)
     * authenticated, if any. The roles the configuration names ({@code AccessConfig#askedRoles}) are asked now,
     * on the container's thread: Spring Security answers {@code isUserInRole} from a thread-bound context that
     * is gone once the request continues asynchronously (the admin API checks its role after the body is read).
     * Any other role is asked of the request when asked.
     */
    private static AuthenticatedUser user(HttpServletRequest request, ProxyEngine engine) {
        Principal principal = request.getUserPrincipal();
        if (principal == null || principal.getName() == null) {
            return null;
        }
        List<String> asked = engine.config().access().askedRoles();
        Set<String> held = new HashSet<>();
        for (String role : asked) {
            if (request.isUserInRole(role)) {
                held.add(role);
            }
        }
        return new AuthenticatedUser(
                principal.getName(),
                role -> held.contains(role) || (!asked.contains(role) && request.isUserInRole(role)));
    }

    private static String requestOrigin(HttpServletRequest request) {
        String scheme = request.getScheme();
        int port = request.getServerPort();
        boolean defaultPort = (scheme.equals("http") && port == 80) || (scheme.equals("https") && port == 443);
        String host = request.getServerName();
        if (host.indexOf(':') >= 0 && !host.startsWith("[")) {
            host = "[" + host + "]"; // IPv6 literal
        }
        return scheme + "://" + host + (defaultPort || port <= 0 ? "" : ":" + port);
    }

    /**
     * The response beneath the body-caching wrappers directly in front of the proxy. Spring's {@code
     * ContentCachingResponseWrapper} (a response-logging filter's, {@code ShallowEtagHeaderFilter}'s) copies what it
     * holds to the client when its filter's chain returns, which for an asynchronous answer is before the answer is
     * written: what the proxy wrote into it would never reach the client.
     */
    private static HttpServletResponse beneathBodyCaches(HttpServletResponse response) {
        HttpServletResponse r = response;
        while (r instanceof HttpServletResponseWrapper w
                && cachesBody(w.getClass())
                && w.getResponse() instanceof HttpServletResponse inner) {
            r = inner;
        }
        return r;
    }

    private static boolean cachesBody(Class<?> c) {
        for (Class<?> k = c; k != null && k != HttpServletResponseWrapper.class; k = k.getSuperclass()) {
            if (k.getName().equals("org.springframework.web.util.ContentCachingResponseWrapper")) {
                return true;
            }
        }
        return false;
    }

    /**
     * Whether a filter in front of the proxy has already read the request's body: from the input stream or the reader
     * (a filter that logs it), or through the container ({@code getParameter} or {@code getParts} on a form or
     * multipart body). The proxy would send the upstream the declared length and no bytes, which it waits for. Not
     * asked of a body sent with {@code Expect: 100-continue}: Jetty asks the client for the body when its stream is
     * opened, and a body refused unread must not be asked for.
     */
    private static boolean bodyReadInFront(HttpServletRequest request) throws IOException {
        if (request.getHeader("Expect") != null) {
            return false;
        }
        long declared = request.getContentLengthLong();
        boolean hasBody = declared > 0 || (declared < 0 && request.getHeader("Transfer-Encoding") != null);
        if (!hasBody) {
            return false;
        }
        try {
            return request.getInputStream().isFinished();
        } catch (IllegalStateException e) {
            return true; // getReader was called in front: the body is the reader's, never the proxy's
        }
    }

    /**
     * A request the host's configuration keeps the proxy from answering: its servlet or filter, or a filter in front
     * of it, registered with async support off (a servlet's default, and a filter's on Jetty); a body read in front.
     */
    private static void refuseSync(HttpServletResponse response, String logMessage, String message) throws IOException {
        LOG.log(System.Logger.Level.ERROR, "openai-proxy: " + logMessage);
        byte[] body = ("{\"error\":\"Configuration Error\",\"message\":\"" + message + "\"}")
                .getBytes(StandardCharsets.UTF_8);
        response.setStatus(500);
        response.setContentType("application/json");
        response.setHeader("X-Content-Type-Options", "nosniff");
        response.setHeader("x-should-retry", "false"); // as for a missing key: a retry meets the same refusal
        response.setContentLength(body.length);
        response.getOutputStream().write(body);
    }
}
