package io.github.openaiproxy.core.upstream;

import java.net.URI;
import java.time.Duration;
import java.util.Objects;
import java.util.Optional;

/**
 * Where and how the proxy calls the upstream API.
 *
 * @param baseUrl the API's root, with or without a trailing {@code /v1} (as the SDKs take it); default
 *     {@code https://api.openai.com}
 * @param connectTimeout how long to wait for a TCP/TLS connection; default 10 seconds
 * @param responseTimeout how long to wait for the response headers; default 10 minutes, like the official
 *     SDKs, since a long non-streamed completion sends its headers only at the end
 * @param organization the {@code OpenAI-Organization} header to send, if any
 * @param project the {@code OpenAI-Project} header to send, if any
 * @param client which HTTP client calls the upstream; default {@link ClientKind#AUTO}
 * @param streamIdleTimeout how long an answer may wait for the upstream's next bytes once the response
 *     headers are in: an event stream's next event (its first included) or a body's next read. Over it the
 *     upstream call is aborted and a stream ends with an error event, a body with 504 (or, once relayed
 *     in part, an incomplete response); default 5 minutes, since a reasoning model may think for minutes
 *     before its first token
 * @param httpVersion the HTTP version spoken to the upstream; default {@link HttpVersion#AUTO}
 */
public record UpstreamConfig(
        URI baseUrl,
        Duration connectTimeout,
        Duration responseTimeout,
        Optional<String> organization,
        Optional<String> project,
        ClientKind client,
        Duration streamIdleTimeout,
        HttpVersion httpVersion) {

    /** The HTTP client that calls the upstream. */
    public enum ClientKind {
        /** Jetty's client when {@code org.eclipse.jetty:jetty-client} is on the class path, else the JDK's. */
        AUTO,
        /** Jetty's client (about three times faster to a first streamed event); needs {@code jetty-client}. */
        JETTY,
        /** The JDK's {@link java.net.http.HttpClient}: no dependency, HTTP/2 to https upstreams. */
        JDK;

        /** Parses {@code auto}, {@code jetty} or {@code jdk}, in any case. */
        public static ClientKind parse(String text) {
            try {
                return valueOf(text.strip().toUpperCase(java.util.Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("upstream-client must be auto, jetty or jdk: " + text, e);
            }
        }
    }

    /** The HTTP version the proxy speaks to the upstream. */
    public enum HttpVersion {
        /**
         * Each client's own: the JDK's HTTP/2 over TLS where the server offers it (ALPN), else HTTP/1.1; Jetty's
         * HTTP/1.1.
         */
        AUTO,
        /** HTTP/1.1 on every connection: one connection per call in flight. */
        HTTP_1_1,
        /**
         * HTTP/2, many calls in flight on one connection: over TLS where the server offers it (ALPN), else HTTP/1.1;
         * on plain {@code http} with prior knowledge (h2c), so only for an upstream known to speak it. Jetty's
         * client needs {@code org.eclipse.jetty.http2:jetty-http2-client-transport} and {@code
         * org.eclipse.jetty:jetty-alpn-java-client}; the JDK's reaches a plain upstream by an h2c upgrade instead.
         */
        HTTP_2;

        /** Parses {@code auto}, {@code 1.1} or {@code 2}. */
        public static HttpVersion parse(String text) {
            return switch (text.strip()) {
                case "auto", "AUTO" -> AUTO;
                case "1.1" -> HTTP_1_1;
                case "2" -> HTTP_2;
                default -> throw new IllegalArgumentException("upstream-http-version must be auto, 1.1 or 2: " + text);
            };
        }
    }

    public static final URI DEFAULT_BASE_URL = URI.create("https://api.openai.com");
    public static final Duration DEFAULT_CONNECT_TIMEOUT = Duration.ofSeconds(10);
    public static final Duration DEFAULT_RESPONSE_TIMEOUT = Duration.ofMinutes(10);
    public static final Duration DEFAULT_STREAM_IDLE_TIMEOUT = Duration.ofMinutes(5);

    public UpstreamConfig {
        Objects.requireNonNull(baseUrl, "baseUrl");
        requirePositive(connectTimeout, "connect-timeout");
        requirePositive(responseTimeout, "response-timeout");
        organization = organization == null ? Optional.empty() : organization.filter(s -> !s.isBlank());
        project = project == null ? Optional.empty() : project.filter(s -> !s.isBlank());
        client = client == null ? ClientKind.AUTO : client;
        streamIdleTimeout = streamIdleTimeout == null ? DEFAULT_STREAM_IDLE_TIMEOUT : streamIdleTimeout;
        requirePositive(streamIdleTimeout, "stream-idle-timeout");
        httpVersion = httpVersion == null ? HttpVersion.AUTO : httpVersion;
        if (!isBaseUrl(baseUrl)) {
            // Not quoted: user info or a query may hold a credential.
            throw new IllegalArgumentException(
                    "base-url must be an absolute http(s) URL without query, fragment or user info");
        }
    }

    /** As the canonical constructor, with each client's own HTTP version. */
    public UpstreamConfig(
            URI baseUrl,
            Duration connectTimeout,
            Duration responseTimeout,
            Optional<String> organization,
            Optional<String> project,
            ClientKind client,
            Duration streamIdleTimeout) {
        this(
                baseUrl,
                connectTimeout,
                responseTimeout,
                organization,
                project,
                client,
                streamIdleTimeout,
                HttpVersion.AUTO);
    }

    /** As the canonical constructor, with the default stream idle timeout. */
    public UpstreamConfig(
            URI baseUrl,
            Duration connectTimeout,
            Duration responseTimeout,
            Optional<String> organization,
            Optional<String> project,
            ClientKind client) {
        this(baseUrl, connectTimeout, responseTimeout, organization, project, client, DEFAULT_STREAM_IDLE_TIMEOUT);
    }

    /** The defaults: OpenAI's API. */
    public static UpstreamConfig defaults() {
        return new UpstreamConfig(
                DEFAULT_BASE_URL,
                DEFAULT_CONNECT_TIMEOUT,
                DEFAULT_RESPONSE_TIMEOUT,
                Optional.empty(),
                Optional.empty(),
                ClientKind.AUTO);
    }

    /** Parses a base URL, with a message naming the setting when it is malformed. */
    public static URI parseBaseUrl(String text) {
        try {
            return new URI(text.strip());
        } catch (java.net.URISyntaxException e) {
            throw new IllegalArgumentException("base-url is not a valid URL: " + text, e);
        }
    }

    /**
     * The URI of an OpenAI path such as {@code /v1/chat/completions} on this upstream. A base URL without a path
     * ({@code https://api.openai.com}, {@code http://127.0.0.1:11434}) gets OpenAI's paths as they are; a base URL
     * with one is the API root itself, as the SDKs take it: {@code .../v1}, OpenRouter's {@code .../api/v1}, Gemini's
     * {@code .../v1beta/openai} are followed by {@code /chat/completions}.
     */
    public URI resolve(String v1Path, String rawQuery) {
        String base = baseUrl.toString();
        while (base.endsWith("/")) {
            base = base.substring(0, base.length() - 1);
        }
        String path = v1Path;
        if ((v1Path.equals("/v1") || v1Path.startsWith("/v1/")) && hasPath(baseUrl)) {
            path = v1Path.substring("/v1".length());
        }
        return URI.create(base + path + (rawQuery == null ? "" : "?" + rawQuery));
    }

    /**
     * Whether a chat request to this upstream may carry {@code stream_options}; see {@link
     * #refusesStreamOptions(URI)}.
     */
    public boolean acceptsStreamOptions() {
        return !refusesStreamOptions(baseUrl);
    }

    /**
     * Whether the server at this base URL refuses a chat request with {@code stream_options} (so the proxy must not
     * ask it for a stream's usage): Mistral's API answers 422 {@code extra_forbidden} to it, and sends a stream's usage
     * in its last chunk unasked.
     */
    public static boolean refusesStreamOptions(URI baseUrl) {
        String host = baseUrl.getHost();
        if (host == null) {
            return false;
        }
        host = host.toLowerCase(java.util.Locale.ROOT);
        while (host.endsWith(".")) {
            host = host.substring(0, host.length() - 1);
        }
        return host.equals("mistral.ai") || host.endsWith(".mistral.ai");
    }

    /** Whether a base URL has a path of its own (more than {@code /}). */
    private static boolean hasPath(URI baseUrl) {
        String path = baseUrl.getRawPath();
        if (path == null) {
            return false;
        }
        for (int i = 0; i < path.length(); i++) {
            if (path.charAt(i) != '/') {
                return true;
            }
        }
        return false;
    }

    public UpstreamConfig withBaseUrl(URI baseUrl) {
        return new UpstreamConfig(
                baseUrl,
                connectTimeout,
                responseTimeout,
                organization,
                project,
                client,
                streamIdleTimeout,
                httpVersion);
    }

    public UpstreamConfig withConnectTimeout(Duration connectTimeout) {
        return new UpstreamConfig(
                baseUrl,
                connectTimeout,
                responseTimeout,
                organization,
                project,
                client,
                streamIdleTimeout,
                httpVersion);
    }

    public UpstreamConfig withResponseTimeout(Duration responseTimeout) {
        return new UpstreamConfig(
                baseUrl,
                connectTimeout,
                responseTimeout,
                organization,
                project,
                client,
                streamIdleTimeout,
                httpVersion);
    }

    public UpstreamConfig withOrganization(String organization) {
        return new UpstreamConfig(
                baseUrl,
                connectTimeout,
                responseTimeout,
                Optional.ofNullable(organization),
                project,
                client,
                streamIdleTimeout,
                httpVersion);
    }

    public UpstreamConfig withProject(String project) {
        return new UpstreamConfig(
                baseUrl,
                connectTimeout,
                responseTimeout,
                organization,
                Optional.ofNullable(project),
                client,
                streamIdleTimeout,
                httpVersion);
    }

    public UpstreamConfig withClient(ClientKind client) {
        return new UpstreamConfig(
                baseUrl,
                connectTimeout,
                responseTimeout,
                organization,
                project,
                client,
                streamIdleTimeout,
                httpVersion);
    }

    public UpstreamConfig withStreamIdleTimeout(Duration streamIdleTimeout) {
        return new UpstreamConfig(
                baseUrl,
                connectTimeout,
                responseTimeout,
                organization,
                project,
                client,
                streamIdleTimeout,
                httpVersion);
    }

    public UpstreamConfig withHttpVersion(HttpVersion httpVersion) {
        return new UpstreamConfig(
                baseUrl,
                connectTimeout,
                responseTimeout,
                organization,
                project,
                client,
                streamIdleTimeout,
                httpVersion);
    }

    private static void requirePositive(Duration d, String name) {
        if (d == null || d.isZero() || d.isNegative()) {
            throw new IllegalArgumentException(name + " must be a positive duration");
        }
    }

    /** Whether a URL can be an upstream's base: absolute http(s), a host, no query, fragment or user info. */
    static boolean isBaseUrl(URI baseUrl) {
        String scheme = baseUrl.getScheme();
        return scheme != null
                && (scheme.equalsIgnoreCase("http") || scheme.equalsIgnoreCase("https"))
                && baseUrl.getHost() != null
                && baseUrl.getRawQuery() == null
                && baseUrl.getRawFragment() == null
                && baseUrl.getRawUserInfo() == null;
    }
}
