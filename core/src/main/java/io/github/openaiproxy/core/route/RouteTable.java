package io.github.openaiproxy.core.route;

import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Finds the route for a path. Paths are matched on their encoded form, segment by segment; the one exception is
 * the model id of {@value #MODEL_TEMPLATE}, which may span segments.
 */
public final class RouteTable {
    /**
     * The template whose variable is everything after {@code /v1/models/}: OpenAI-compatible servers (OpenRouter,
     * vLLM, Together) name models with a slash, {@code meta-llama/Llama-3.1-8B-Instruct}. The Node and Python SDKs
     * send it raw, openai-java as {@code %2F}; either way each of its segments must be a plain name.
     */
    public static final String MODEL_TEMPLATE = "/v1/models/{id}";

    private static final String MODEL_PREFIX = "/v1/models/";
    private static final int MAX_ID = 256;
    private static final java.util.regex.Pattern SAFE_SEGMENT =
            java.util.regex.Pattern.compile("[A-Za-z0-9_][A-Za-z0-9._:@+~ -]*");
    private final List<Route> routes;

    private RouteTable(List<Route> routes) {
        this.routes = List.copyOf(routes);
    }

    /** The simple routes plus the given pass-through routes. */
    public static RouteTable of(List<PassThroughRoute> passThrough) {
        return of(passThrough, List.of());
    }

    /**
     * The simple routes, the given pass-through routes and the routes modules add. A custom route may
     * not take a path the proxy already answers.
     */
    public static RouteTable of(List<PassThroughRoute> passThrough, List<CustomRoute> custom) {
        List<Route> routes = new ArrayList<>();
        routes.add(new Route("/", RouteKind.CHAT_OR_IMAGE, Set.of("POST"), true));
        routes.add(new Route("/images/generations", RouteKind.IMAGE, Set.of("POST"), true));
        routes.add(new Route("/generate-image", RouteKind.IMAGE, Set.of("POST"), true));
        Map<String, List<PassThroughRoute>> byTemplate = new LinkedHashMap<>();
        for (PassThroughRoute r : passThrough) {
            byTemplate.computeIfAbsent(r.template(), t -> new ArrayList<>()).add(r);
        }
        byTemplate.forEach((template, rs) -> {
            Set<String> methods = new java.util.TreeSet<>();
            boolean json = false;
            for (PassThroughRoute r : rs) {
                methods.add(r.method());
                json |= r.requiresJson();
            }
            routes.add(new Route(template, RouteKind.PASS_THROUGH, methods, json));
        });
        for (CustomRoute c : custom) {
            // Checked against every route so far: built-in ones and the custom ones added before.
            if (!c.path().startsWith("/")
                    || new RouteTable(routes).match(c.path()).isPresent()) {
                throw new IllegalArgumentException("custom route path must be new and start with /: " + c.path());
            }
            Set<String> methods = new java.util.TreeSet<>();
            c.methods().forEach(m -> methods.add(m.toUpperCase(java.util.Locale.ROOT)));
            if (methods.isEmpty()) {
                // It would answer every call 405: a mistake of the application's, told at start-up.
                throw new IllegalArgumentException("custom route " + c.path() + " accepts no method");
            }
            routes.add(new Route(c.path(), RouteKind.CUSTOM, methods, false, c));
        }
        return new RouteTable(routes);
    }

    /**
     * The route whose template matches {@code path} exactly. A trailing slash, a path parameter
     * ({@code ;x}), case or an encoded separator make another path, which no route answers: a host
     * application's security rule for {@code /graphql} must not be side-stepped by {@code /graphql/}. Only a model
     * id ({@value #MODEL_TEMPLATE}) may hold slashes, raw or encoded.
     */
    public Optional<Route> match(String path) {
        for (Route r : routes) {
            if (matches(r.template(), path)) {
                return Optional.of(r);
            }
        }
        return Optional.empty();
    }

    public List<Route> routes() {
        return routes;
    }

    private static boolean matches(String template, String path) {
        if (!template.contains("{")) {
            return template.equals(path);
        }
        if (template.equals(MODEL_TEMPLATE)) {
            return path.startsWith(MODEL_PREFIX) && isSafeModelId(path.substring(MODEL_PREFIX.length()));
        }
        String[] t = template.split("/", -1);
        String[] p = path.split("/", -1);
        if (t.length != p.length) {
            return false;
        }
        for (int i = 0; i < t.length; i++) {
            if (t[i].startsWith("{") && t[i].endsWith("}")) {
                if (!isSafeSegment(p[i])) {
                    return false;
                }
            } else if (!t[i].equals(p[i])) {
                return false;
            }
        }
        return true;
    }

    /** A variable segment must be a plain name: no dot segments and nothing that decodes to a separator. */
    private static boolean isSafeSegment(String segment) {
        String decoded = decoded(segment);
        // Model ids such as "gpt-4o" or "ft:gpt-4o-mini:org:suffix:id": no dot segments, separators or
        // path parameters, so an upstream that normalizes paths cannot be steered to another route.
        return decoded != null && SAFE_SEGMENT.matcher(decoded).matches();
    }

    /**
     * A model id, raw or with encoded slashes: once decoded, each of its slash-separated parts a plain name. No empty
     * part, {@code .} or {@code ..} (raw or encoded), so it cannot lead the upstream out of {@code /v1/models/}.
     */
    private static boolean isSafeModelId(String rawId) {
        String decoded = decoded(rawId);
        return decoded != null && hasSafeParts(decoded);
    }

    /** Whether each slash-separated part of a decoded id is a plain name (no empty part, {@code .} or {@code ..}). */
    private static boolean hasSafeParts(String id) {
        for (String part : id.split("/", -1)) {
            if (!SAFE_SEGMENT.matcher(part).matches()) {
                return false;
            }
        }
        return true;
    }

    /**
     * The decoded model id of a {@value #MODEL_TEMPLATE} path (its {@code %2F} a slash), or empty when the path is no
     * such route's: the id a model retrieve is routed by.
     */
    public static Optional<String> modelId(String path) {
        if (!path.startsWith(MODEL_PREFIX) || !isSafeModelId(path.substring(MODEL_PREFIX.length()))) {
            return Optional.empty();
        }
        return Optional.of(decoded(path.substring(MODEL_PREFIX.length())));
    }

    /**
     * The upstream path retrieving model {@code id} ({@code /v1/models/<id>}, a space encoded), or empty when the id
     * could leave {@code /v1/models/} (an empty part, {@code .} or {@code ..}, a character no model id has): an
     * alias's upstream name is configured, but is held to the clients' rule all the same.
     */
    public static Optional<String> modelPath(String id) {
        if (id == null || id.isEmpty() || id.length() > MAX_ID || !hasSafeParts(id)) {
            return Optional.empty();
        }
        return Optional.of(MODEL_PREFIX + id.replace(" ", "%20"));
    }

    /** Percent-decoded ({@code +} stays itself), or {@code null} when empty, overlong or not validly encoded. */
    private static String decoded(String raw) {
        if (raw.isEmpty() || raw.length() > MAX_ID * 3) {
            return null;
        }
        try {
            String decoded = URLDecoder.decode(raw.replace("+", "%2B"), StandardCharsets.UTF_8);
            return decoded.length() > MAX_ID ? null : decoded;
        } catch (IllegalArgumentException e) {
            return null;
        }
    }
}
