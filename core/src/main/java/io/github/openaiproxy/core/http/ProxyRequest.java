package io.github.openaiproxy.core.http;

import io.github.openaiproxy.core.internal.Bodies;
import java.net.http.HttpHeaders;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.Flow;

/**
 * A transport-neutral HTTP request as an adapter hands it to the {@link io.github.openaiproxy.core.ProxyEngine}.
 *
 * <p>The path is relative to where the proxy is mounted and always starts with {@code /}. The body is a
 * {@link Flow.Publisher} of byte chunks so that adapters can feed it from non-blocking I/O; the engine
 * subscribes at most once.
 */
public final class ProxyRequest {
    private final String method;
    private final String path;
    private final String rawQuery;
    private final HttpHeaders headers;
    private final String requestOrigin;
    private final String remoteAddress;
    private final AuthenticatedUser user;
    private final String basePath;
    private final Flow.Publisher<ByteBuffer> body;

    private ProxyRequest(Builder b) {
        this.method = b.method;
        this.path = b.path;
        this.rawQuery = b.rawQuery;
        this.headers = HttpHeaders.of(b.headers, (name, value) -> true);
        this.requestOrigin = b.requestOrigin;
        this.remoteAddress = b.remoteAddress;
        this.user = b.user;
        this.basePath = b.basePath;
        this.body = b.body;
    }

    private ProxyRequest(ProxyRequest r, String method, String remoteAddress) {
        this(r, method, remoteAddress, r.body);
    }

    private ProxyRequest(ProxyRequest r, String method, String remoteAddress, Flow.Publisher<ByteBuffer> body) {
        this.method = method;
        this.path = r.path;
        this.rawQuery = r.rawQuery;
        this.headers = r.headers;
        this.requestOrigin = r.requestOrigin;
        this.remoteAddress = remoteAddress;
        this.user = r.user;
        this.basePath = r.basePath;
        this.body = body;
    }

    /**
     * Starts a request.
     *
     * @param method the HTTP method, for example {@code POST}
     * @param path the path relative to the proxy's mount point, starting with {@code /}
     */
    public static Builder builder(String method, String path) {
        return new Builder(method, path);
    }

    /** The HTTP method as the client sent it (methods are case-sensitive: {@code post} is not {@code POST}). */
    public String method() {
        return method;
    }

    /** The path relative to the mount point, starting with {@code /}. */
    public String path() {
        return path;
    }

    /** The raw (still encoded) query string without {@code ?}, if any. */
    public Optional<String> rawQuery() {
        return Optional.ofNullable(rawQuery);
    }

    /** The request headers; names are case-insensitive. */
    public HttpHeaders headers() {
        return headers;
    }

    /**
     * The origin this request was addressed to ({@code scheme://host[:port]}), used to tell same-origin
     * browser requests from cross-origin ones. Empty when the adapter cannot tell.
     */
    public Optional<String> requestOrigin() {
        return Optional.ofNullable(requestOrigin);
    }

    /**
     * The address of the client's end of the connection (the servlet adapter's {@code getRemoteAddr()}),
     * which the per-client limits count by. Never a forwarding header. Empty when the adapter cannot tell.
     */
    public Optional<String> remoteAddress() {
        return Optional.ofNullable(remoteAddress);
    }

    /** The request body. */
    public Flow.Publisher<ByteBuffer> body() {
        return body;
    }

    /** This request with another method (upper-cased); everything else is shared. */
    public ProxyRequest withMethod(String method) {
        return new ProxyRequest(
                this, Objects.requireNonNull(method, "method").toUpperCase(java.util.Locale.ROOT), remoteAddress);
    }

    /** This request with another body (the same body, watched on its way); everything else is shared. */
    public ProxyRequest withBody(Flow.Publisher<ByteBuffer> body) {
        return new ProxyRequest(this, method, remoteAddress, Objects.requireNonNull(body, "body"));
    }

    /** This request from another client address; everything else is shared. */
    public ProxyRequest withRemoteAddress(String remoteAddress) {
        return new ProxyRequest(this, method, remoteAddress == null || remoteAddress.isBlank() ? null : remoteAddress);
    }

    /**
     * The user the host application (or the servlet container) authenticated for this request, if any: an
     * adapter fills it from {@code HttpServletRequest.getUserPrincipal()}. Never taken from a header.
     */
    public Optional<AuthenticatedUser> user() {
        return Optional.ofNullable(user);
    }

    /**
     * The path the proxy's routes hang from as the container serves them: the web application's context path and
     * the proxy's own mapping ({@code /shop/ai}), never ending with {@code /}; empty for the host's root. Links the
     * proxy hands out (stored images) start with it. An adapter sets it from the container's configuration, never
     * from the request's own path; absent, links start with the configured {@code path}.
     */
    public Optional<String> basePath() {
        return Optional.ofNullable(basePath);
    }

    /** The first value of a header, if present. */
    public Optional<String> header(String name) {
        return Optional.ofNullable(io.github.openaiproxy.core.internal.HeaderMap.first(headers, name));
    }

    @Override
    public String toString() {
        // Headers are left out on purpose: they may carry keys.
        return "ProxyRequest[" + method + " " + path + "]";
    }

    /** Builds a {@link ProxyRequest}. */
    public static final class Builder {
        private final String method;
        private final String path;
        private String rawQuery;
        private final Map<String, List<String>> headers = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
        private String requestOrigin;
        private String remoteAddress;
        private AuthenticatedUser user;
        private String basePath;
        private Flow.Publisher<ByteBuffer> body = Bodies.emptyRequest();

        private Builder(String method, String path) {
            // As sent: methods are case-sensitive (RFC 9110), and a container's security constraint on POST does
            // not cover "post"; an engine that served "post" as POST would let it around the constraint.
            this.method = Objects.requireNonNull(method, "method");
            Objects.requireNonNull(path, "path");
            this.path = path.isEmpty() ? "/" : path;
        }

        /** Sets the raw query string (without {@code ?}); {@code null} for none. */
        public Builder rawQuery(String rawQuery) {
            this.rawQuery = rawQuery == null || rawQuery.isEmpty() ? null : rawQuery;
            return this;
        }

        /** Adds a header value; repeated calls with the same name add values. */
        public Builder header(String name, String value) {
            headers.computeIfAbsent(name, n -> new java.util.ArrayList<>(1)).add(value);
            return this;
        }

        /** Sets the origin the request was addressed to, for example {@code http://localhost:8787}. */
        public Builder requestOrigin(String requestOrigin) {
            this.requestOrigin = requestOrigin;
            return this;
        }

        /** Sets the address of the connection's peer, for example {@code 203.0.113.7}; {@code null} for unknown. */
        public Builder remoteAddress(String remoteAddress) {
            this.remoteAddress = remoteAddress == null || remoteAddress.isBlank() ? null : remoteAddress;
            return this;
        }

        /** Sets the user the host application authenticated; {@code null} for none. */
        public Builder user(AuthenticatedUser user) {
            this.user = user;
            return this;
        }

        /**
         * Sets the path the proxy's routes hang from as the container serves them (see {@link #basePath()}); a
         * trailing {@code /} is dropped, so {@code /} is the root.
         *
         * @throws IllegalArgumentException if it does not start with {@code /}, or holds a character that has no
         *     place in a link's path (a space, a quote, a backslash, {@code ?}, {@code #}, or {@code //})
         */
        public Builder basePath(String basePath) {
            String c = Objects.requireNonNull(basePath, "basePath");
            while (c.endsWith("/")) {
                c = c.substring(0, c.length() - 1);
            }
            if (!c.isEmpty()
                    && (c.charAt(0) != '/'
                            || c.contains("//")
                            || !c.chars()
                                    .allMatch(ch -> ch > 0x20
                                            && ch < 0x7f
                                            && ch != '"'
                                            && ch != '\\'
                                            && ch != '?'
                                            && ch != '#'))) {
                throw new IllegalArgumentException("a base path is /, then printable ASCII without \" \\ ? # or //");
            }
            this.basePath = c;
            return this;
        }

        /** Sets the body publisher. */
        public Builder body(Flow.Publisher<ByteBuffer> body) {
            this.body = Objects.requireNonNull(body, "body");
            return this;
        }

        /** Sets a body held in memory, for tests and callers that already have the bytes. */
        public Builder body(byte[] body) {
            this.body = Bodies.requestOf(body);
            return this;
        }

        public ProxyRequest build() {
            return new ProxyRequest(this);
        }
    }
}
