package io.github.openaiproxy.core.upstream;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * How one named upstream is called, besides its URL and keys: extra headers, its own timeouts, OpenAI's
 * organization and project, a compatible server's auth style and Azure's API form. Immutable; checked against
 * its upstream by {@link NamedUpstream}, each refusal naming its setting.
 *
 * @param headers extra headers sent on every call, in configuration order; never hop-by-hop or credential headers
 * @param connectTimeout the time to connect to this upstream; empty: {@code connect-timeout}'s
 * @param timeout the time to this upstream's response headers (a timeout is retried as a failure); empty:
 *     {@code response-timeout}'s
 * @param organization {@code OpenAI-Organization} of a {@link NamedUpstream.Kind#OPENAI} upstream
 * @param project {@code OpenAI-Project} of a {@link NamedUpstream.Kind#OPENAI} upstream
 * @param auth how a {@link NamedUpstream.Kind#COMPATIBLE} server is sent its key
 * @param azureApi which of Azure OpenAI's API forms a {@link NamedUpstream.Kind#AZURE} upstream is called in
 * @param httpVersion the HTTP version spoken to this upstream; empty: {@code upstream-http-version}'s. One that differs
 *     from the proxy's client's gets a client of its own, made from the proxy's
 */
public record UpstreamConnection(
        Map<String, String> headers,
        Optional<Duration> connectTimeout,
        Optional<Duration> timeout,
        Optional<String> organization,
        Optional<String> project,
        Auth auth,
        AzureApi azureApi,
        Optional<UpstreamConfig.HttpVersion> httpVersion) {

    /** No extra header, the proxy's timeouts and HTTP version, bearer auth, Azure's deployment form. */
    public static final UpstreamConnection DEFAULTS = new UpstreamConnection(
            Map.of(), Optional.empty(), Optional.empty(), Optional.empty(), Optional.empty(), Auth.BEARER, null);

    /**
     * Headers an extra header may not set: hop-by-hop and transport headers (the client writes them), and the
     * credentials and identity headers the proxy sets itself (a second key would be sent, or the key replaced).
     */
    static final Set<String> REFUSED_HEADERS = Set.of(
            "connection",
            "keep-alive",
            "proxy-authenticate",
            "proxy-authorization",
            "proxy-connection",
            "te",
            "trailer",
            "transfer-encoding",
            "upgrade",
            "host",
            "content-length",
            "expect",
            "authorization",
            "api-key",
            "x-openai-key",
            "cookie",
            "openai-organization",
            "openai-project");

    /** An HTTP header name: RFC 9110's token. */
    private static final Pattern TOKEN = Pattern.compile("[!#$%&'*+.^_`|~0-9A-Za-z-]+");

    /** Azure OpenAI's API forms. */
    public enum AzureApi {
        /** {@code /openai/deployments/{deployment}/{operation}?api-version=...}, the 2024-10-21 specification. */
        DEPLOYMENTS,
        /** {@code /openai/v1/{operation}}, the model (deployment) in the body, no {@code api-version} needed. */
        V1;

        /** Parses {@code deployments} or {@code v1}, in any case. */
        public static AzureApi parse(String text) {
            return switch (text.strip().toLowerCase(Locale.ROOT)) {
                case "deployments" -> DEPLOYMENTS;
                case "v1" -> V1;
                default -> throw new IllegalArgumentException("expected deployments or v1");
            };
        }
    }

    /**
     * How a key is sent: {@code Authorization: Bearer <key>}, another header with the bare key, or nothing.
     *
     * @param style the style
     * @param header the header a {@link Style#HEADER} key goes in, else {@code null}
     */
    public record Auth(Style style, String header) {
        /** {@code Authorization: Bearer <key>}. */
        public static final Auth BEARER = new Auth(Style.BEARER, null);

        /** No auth header, even with keys: refused with keys by {@link NamedUpstream}. */
        public static final Auth NONE = new Auth(Style.NONE, null);

        /** The auth styles. */
        public enum Style {
            BEARER,
            HEADER,
            NONE
        }

        public Auth {
            Objects.requireNonNull(style, "style");
            if ((style == Style.HEADER) != (header != null)) {
                throw new IllegalArgumentException("a header name goes with the header style only");
            }
        }

        /**
         * Parses {@code bearer}, {@code none} or {@code header:<Name>}.
         *
         * @throws IllegalArgumentException when malformed, or the header may not carry a key
         */
        public static Auth parse(String text) {
            String t = text.strip();
            String lower = t.toLowerCase(Locale.ROOT);
            if (lower.equals("bearer")) {
                return BEARER;
            }
            if (lower.equals("none")) {
                return NONE;
            }
            if (lower.startsWith("header:")) {
                String name = t.substring("header:".length()).strip();
                if (!TOKEN.matcher(name).matches()
                        || (REFUSED_HEADERS.contains(name.toLowerCase(Locale.ROOT))
                                && !name.equalsIgnoreCase("api-key")
                                && !name.equalsIgnoreCase("authorization"))) {
                    throw new IllegalArgumentException("header:<Name> needs a header name that is no transport header");
                }
                return new Auth(Style.HEADER, name);
            }
            throw new IllegalArgumentException("expected bearer, header:<Name> or none");
        }

        @Override
        public String toString() {
            return style == Style.HEADER ? "header:" + header : style.name().toLowerCase(Locale.ROOT);
        }
    }

    public UpstreamConnection {
        headers = headers == null ? Map.of() : java.util.Collections.unmodifiableMap(new LinkedHashMap<>(headers));
        connectTimeout = connectTimeout == null ? Optional.empty() : connectTimeout;
        timeout = timeout == null ? Optional.empty() : timeout;
        organization = organization == null ? Optional.empty() : organization.filter(v -> !v.isBlank());
        project = project == null ? Optional.empty() : project.filter(v -> !v.isBlank());
        auth = auth == null ? Auth.BEARER : auth;
        azureApi = azureApi == null ? AzureApi.DEPLOYMENTS : azureApi;
        httpVersion = httpVersion == null ? Optional.empty() : httpVersion;
    }

    /** As the canonical constructor, with the proxy's HTTP version ({@code upstream-http-version}). */
    public UpstreamConnection(
            Map<String, String> headers,
            Optional<Duration> connectTimeout,
            Optional<Duration> timeout,
            Optional<String> organization,
            Optional<String> project,
            Auth auth,
            AzureApi azureApi) {
        this(headers, connectTimeout, timeout, organization, project, auth, azureApi, Optional.empty());
    }

    /**
     * Parses {@code Name=value} entries of {@code upstreams.<name>.headers}; the first entry of a name wins.
     *
     * @throws UpstreamSettingException naming the setting when an entry is malformed or names a refused header
     */
    public static Map<String, String> parseHeaders(String name, List<String> entries) {
        Map<String, String> out = new LinkedHashMap<>();
        for (String e : entries) {
            Map.Entry<String, String> pair = NamedUpstream.splitPair(e);
            if (!TOKEN.matcher(pair.getKey()).matches()) {
                throw new UpstreamSettingException(
                        NamedUpstream.key(name, "headers"), "expected Name=value entries with a header name");
            }
            out.putIfAbsent(pair.getKey(), pair.getValue());
        }
        return out;
    }

    /** Checks this connection against its upstream; each refusal names its setting, never a value. */
    void check(String name, NamedUpstream.Kind kind, List<String> keys) {
        for (Map.Entry<String, String> h : headers.entrySet()) {
            String lower = h.getKey().toLowerCase(Locale.ROOT);
            if (!TOKEN.matcher(h.getKey()).matches()) {
                throw new UpstreamSettingException(NamedUpstream.key(name, "headers"), "not a header name");
            }
            if (REFUSED_HEADERS.contains(lower)
                    || (auth.style() == Auth.Style.HEADER && lower.equalsIgnoreCase(auth.header()))) {
                throw new UpstreamSettingException(
                        NamedUpstream.key(name, "headers"),
                        "'" + h.getKey() + "' may not be set: hop-by-hop and transport headers are the client's, and"
                                + " credentials and OpenAI's organization/project have their own settings");
            }
            if (!h.getValue().chars().allMatch(c -> c == '\t' || (c >= 0x20 && c < 0x7f))) {
                throw new UpstreamSettingException(
                        NamedUpstream.key(name, "headers"),
                        "the value of '" + h.getKey() + "' is printable ASCII only");
            }
        }
        positive(name, "connect-timeout", connectTimeout);
        positive(name, "timeout", timeout);
        for (Map.Entry<String, Optional<String>> e :
                Map.of("organization", organization, "project", project).entrySet()) {
            if (e.getValue().isEmpty()) {
                continue;
            }
            if (kind != NamedUpstream.Kind.OPENAI) {
                throw new UpstreamSettingException(NamedUpstream.key(name, e.getKey()), "only for kind openai");
            }
            if (!e.getValue().get().chars().allMatch(c -> c > 0x20 && c < 0x7f)) {
                throw new UpstreamSettingException(
                        NamedUpstream.key(name, e.getKey()), "printable ASCII without spaces");
            }
        }
        if (auth != Auth.BEARER) {
            if (kind != NamedUpstream.Kind.COMPATIBLE) {
                throw new UpstreamSettingException(NamedUpstream.key(name, "auth"), "only for kind compatible");
            }
            if (auth.style() == Auth.Style.NONE && !keys.isEmpty()) {
                throw new UpstreamSettingException(
                        NamedUpstream.key(name, "auth"),
                        "none, but keys are set: unset keys for a server without auth");
            }
            if (auth.style() == Auth.Style.HEADER && keys.isEmpty()) {
                throw new UpstreamSettingException(NamedUpstream.key(name, "keys"), "auth header: needs a key");
            }
        }
        if (azureApi != AzureApi.DEPLOYMENTS && kind != NamedUpstream.Kind.AZURE) {
            throw new UpstreamSettingException(NamedUpstream.key(name, "azure-api"), "only for kind azure");
        }
    }

    private static void positive(String name, String setting, Optional<Duration> d) {
        if (d.isPresent() && (d.get().isNegative() || d.get().isZero())) {
            throw new UpstreamSettingException(NamedUpstream.key(name, setting), "must be positive");
        }
    }

    /** Header names only: a header's value may be a secret of the upstream's (a gateway token). */
    @Override
    public String toString() {
        return "UpstreamConnection[headers=" + headers.keySet() + ", connectTimeout="
                + connectTimeout.map(Duration::toString).orElse("") + ", timeout="
                + timeout.map(Duration::toString).orElse("") + ", organization=" + organization.isPresent()
                + ", project=" + project.isPresent() + ", auth=" + auth + ", azureApi="
                + azureApi.name().toLowerCase(Locale.ROOT) + ", httpVersion="
                + httpVersion.map(Enum::name).orElse("") + "]";
    }
}
