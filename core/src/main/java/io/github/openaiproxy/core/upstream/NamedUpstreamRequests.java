package io.github.openaiproxy.core.upstream;

import io.github.openaiproxy.core.internal.HeaderMap;
import io.github.openaiproxy.core.internal.Internal;
import io.github.openaiproxy.core.keys.ApiKey;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpHeaders;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Builds the requests to one named upstream, in its provider's wire format, with only safe headers (as
 * {@link UpstreamRequests}): the upstream's own key, never the client's credentials.
 *
 * <ul>
 *   <li>{@link NamedUpstream.Kind#OPENAI} and {@link NamedUpstream.Kind#COMPATIBLE}: the OpenAI path on the base
 *       URL, {@code Authorization: Bearer <key>} (none for a compatible server without keys).
 *   <li>{@link NamedUpstream.Kind#AZURE}: {@code <base>/openai/deployments/<deployment>/<operation>?api-version=<v>}
 *       with an {@code api-key} header, the deployment being the model after the upstream's aliases (Azure
 *       OpenAI's 2024-10-21 inference specification), a model retrieve at {@code <base>/openai/models/<model>?api-version=<v>};
 *       with {@code azure-api=v1}
 *       {@code <base>/openai/v1/<operation>}, the deployment in the body's model.
 * </ul>
 *
 * <p>Every kind adds the upstream's configured extra headers; an OpenAI upstream its organization and project;
 * a compatible server gets its key as its {@code auth} says.
 */
@Internal
public final class NamedUpstreamRequests {
    private static final String USER_AGENT = "openai-proxy-java";

    /** The OpenAI operations Azure serves per deployment, as {@code /v1} paths. */
    private static final Set<String> AZURE_OPERATIONS = Set.of(
            "/v1/chat/completions",
            "/v1/completions",
            "/v1/embeddings",
            "/v1/images/generations",
            "/v1/audio/transcriptions",
            "/v1/audio/translations",
            "/v1/audio/speech");

    private static final String MODELS = "/v1/models/";

    /** Azure's deployment names: letters, digits, '.', '_' and '-', never a path of their own ('..'). */
    private static final Pattern DEPLOYMENT = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");

    private final NamedUpstream upstream;
    private final UpstreamConfig paths;
    private final String azureRoot;
    /** Azure's {@code ?api-version=<v>} (encoded once), or empty when none is configured. */
    private final String azureQuery;

    public NamedUpstreamRequests(NamedUpstream upstream) {
        this.upstream = upstream;
        this.paths = UpstreamConfig.defaults().withBaseUrl(upstream.baseUrl());
        String base = upstream.baseUrl().toString();
        while (base.endsWith("/")) {
            base = base.substring(0, base.length() - 1);
        }
        // The specification's server is https://{endpoint}/openai; a base URL given with /openai keeps one, and so
        // does one given as Azure's guide writes the v1 API's (https://{endpoint}/openai/v1/, what the SDKs take).
        if (base.endsWith("/openai/v1")) {
            base = base.substring(0, base.length() - "/v1".length());
        }
        this.azureRoot = base.endsWith("/openai") ? base : base + "/openai";
        this.azureQuery = upstream.apiVersion()
                .map(v -> "?api-version=" + URLEncoder.encode(v, StandardCharsets.UTF_8))
                .orElse("");
    }

    /**
     * The query of Azure's v1 API: the configured {@code api-version}, then the client's own parameters (a list's
     * {@code after} and {@code limit}, a retrieved response's {@code stream}) but for an {@code api-version} of its
     * own, which the configuration decides.
     */
    private String v1Query(String rawQuery) {
        if (rawQuery == null || rawQuery.isEmpty()) {
            return azureQuery;
        }
        StringBuilder q = new StringBuilder(azureQuery);
        for (String param : rawQuery.split("&")) {
            if (param.isEmpty() || isApiVersion(param)) {
                continue;
            }
            q.append(q.length() == 0 ? '?' : '&').append(param);
        }
        return q.toString();
    }

    /** Whether a query parameter is an {@code api-version}, however its name is cased or escaped (Azure reads both). */
    private static boolean isApiVersion(String param) {
        int eq = param.indexOf('=');
        String name = eq < 0 ? param : param.substring(0, eq);
        try {
            name = java.net.URLDecoder.decode(name, StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            return true; // not a name Azure could read either: left out
        }
        return name.strip().equalsIgnoreCase("api-version");
    }

    /** The upstream these requests go to. */
    public NamedUpstream upstream() {
        return upstream;
    }

    /**
     * Whether this upstream can serve {@code v1Path} for {@code upstreamModel}: always for OpenAI's kinds; for
     * Azure, the operations its deployments serve, for a well-formed deployment name.
     */
    public boolean serves(String v1Path, String upstreamModel) {
        if (upstream.kind() != NamedUpstream.Kind.AZURE
                || upstream.connection().azureApi() == UpstreamConnection.AzureApi.V1) {
            // Azure's v1 form takes OpenAI's paths with the model (deployment) in the body.
            return true;
        }
        return (AZURE_OPERATIONS.contains(v1Path) || isModelRetrieve(v1Path, upstreamModel))
                && upstreamModel != null
                && DEPLOYMENT.matcher(upstreamModel).matches();
    }

    /**
     * Whether this upstream can be asked to retrieve a model by the name the proxy lists for it: all kinds but Azure's
     * deployments form, where such a name is a deployment's (or an alias of one), which its models API does not know.
     */
    public boolean retrievesModelsByListedName() {
        return upstream.kind() != NamedUpstream.Kind.AZURE
                || upstream.connection().azureApi() == UpstreamConnection.AzureApi.V1;
    }

    /**
     * Whether {@code v1Path} retrieves (or deletes) the model {@code upstreamModel}: Azure's deployments API has it at
     * {@code /openai/models/<model>?api-version=} ("Models - Get"), not under a deployment.
     */
    private static boolean isModelRetrieve(String v1Path, String upstreamModel) {
        return upstreamModel != null
                && v1Path.length() == MODELS.length() + upstreamModel.length()
                && v1Path.startsWith(MODELS)
                && v1Path.endsWith(upstreamModel);
    }

    /**
     * A request with the client's body (its model already renamed when an alias applies).
     *
     * @param method the HTTP method
     * @param v1Path the OpenAI path, for example {@code /v1/chat/completions}
     * @param rawQuery the client's raw query, or {@code null} (sent to Azure's v1 API after the version; not to its
     *     deployments, whose query is its version)
     * @param clientHeaders the client's headers (only safe ones are copied)
     * @param body the body bytes
     * @param key the key to send, or {@code null} for a compatible server without auth
     * @param upstreamModel the model after aliases (Azure's deployment)
     */
    public UpstreamRequest request(
            String method,
            String v1Path,
            String rawQuery,
            HttpHeaders clientHeaders,
            byte[] body,
            ApiKey key,
            String upstreamModel) {
        return request(method, v1Path, rawQuery, clientHeaders, body, null, key, upstreamModel);
    }

    /**
     * A request whose body streams from the client as it arrives (an upload), otherwise as {@link #request(String,
     * String, String, HttpHeaders, byte[], ApiKey, String)}. It can be sent once.
     *
     * @param streamed the client's body as it arrives
     */
    public UpstreamRequest request(
            String method,
            String v1Path,
            String rawQuery,
            HttpHeaders clientHeaders,
            UpstreamRequest.StreamedBody streamed,
            ApiKey key,
            String upstreamModel) {
        return request(
                method,
                v1Path,
                rawQuery,
                clientHeaders,
                io.github.openaiproxy.core.internal.Bodies.empty(),
                java.util.Objects.requireNonNull(streamed, "streamed"),
                key,
                upstreamModel);
    }

    private UpstreamRequest request(
            String method,
            String v1Path,
            String rawQuery,
            HttpHeaders clientHeaders,
            byte[] body,
            UpstreamRequest.StreamedBody streamed,
            ApiKey key,
            String upstreamModel) {
        HeaderMap h = new HeaderMap();
        URI uri;
        UpstreamConnection connection = upstream.connection();
        if (upstream.kind() == NamedUpstream.Kind.AZURE) {
            if (connection.azureApi() == UpstreamConnection.AzureApi.V1) {
                // <endpoint>/openai/v1/<operation>: no deployment in the path, api-version only when configured.
                uri = URI.create(azureRoot + v1Path + v1Query(rawQuery));
            } else if (serves(v1Path, upstreamModel) && isModelRetrieve(v1Path, upstreamModel)) {
                uri = URI.create(azureRoot + "/models/" + upstreamModel + azureQuery);
            } else if (serves(v1Path, upstreamModel)) {
                // The deployments form: NamedUpstream refuses an Azure upstream without api-version for it.
                uri = URI.create(azureRoot + "/deployments/" + upstreamModel + v1Path.substring(3) + azureQuery);
            } else {
                throw new IllegalArgumentException("not an Azure deployment operation");
            }
            if (key != null) {
                h.set("api-key", key.reveal());
            }
        } else {
            uri = paths.resolve(v1Path, rawQuery);
            UpstreamConnection.Auth auth = connection.auth();
            if (key != null && auth.style() == UpstreamConnection.Auth.Style.BEARER) {
                h.set("Authorization", "Bearer " + key.reveal());
            } else if (key != null && auth.style() == UpstreamConnection.Auth.Style.HEADER) {
                h.set(auth.header(), key.reveal());
            }
            connection.organization().ifPresent(o -> h.set("OpenAI-Organization", o));
            connection.project().ifPresent(p -> h.set("OpenAI-Project", p));
        }
        h.set("User-Agent", USER_AGENT);
        h.set("Accept-Encoding", UpstreamRequests.IDENTITY); // see UpstreamRequests
        if (body.length > 0 || streamed != null) {
            h.set("Content-Type", orElse(HeaderMap.first(clientHeaders, "content-type"), "application/json"));
        }
        h.set("Accept", orElse(HeaderMap.first(clientHeaders, "accept"), "application/json"));
        for (String name : UpstreamRequests.FORWARDED) {
            List<String> values = clientHeaders.map().get(name);
            if (values != null) {
                values.forEach(v -> h.add(name, v));
            }
        }
        // Last, so that a configured User-Agent or Accept wins; credential and transport headers were refused at
        // start-up.
        connection.headers().forEach(h::set);
        return new UpstreamRequest(method, uri, h.build(), body, streamed);
    }

    private static String orElse(String value, String otherwise) {
        return value != null ? value : otherwise;
    }

    @Override
    public String toString() {
        return "NamedUpstreamRequests[" + upstream.name() + "]";
    }
}
