package io.github.openaiproxy.graphql;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import graphql.ExecutionInput;
import graphql.ExecutionResult;
import graphql.GraphQL;
import graphql.introspection.Introspection;
import graphql.language.Document;
import graphql.language.OperationDefinition;
import graphql.parser.Parser;
import io.github.openaiproxy.core.flow.Publishers;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.route.RouteCall;
import java.net.URLDecoder;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.reactivestreams.FlowAdapters;
import org.reactivestreams.Publisher;

/**
 * GraphQL over HTTP (the GraphQL-over-HTTP specification) and GraphQL over SSE (distinct connections
 * mode):
 *
 * <ul>
 *   <li>POST with a JSON body {@code {query, operationName, variables, extensions}}; GET with the same as
 *       query parameters, for queries only (a mutation or subscription over GET is 405).
 *   <li>Answers {@code application/graphql-response+json} when the {@code Accept} header names it, with
 *       200 when execution started ({@code data} present) and 400 otherwise; else
 *       {@code application/json} with 200 for every well-formed request.
 *   <li>A body that is not JSON, lacks {@code query} or has fields of the wrong type, and a document over
 *       the size limit, are 400 with {@code {"errors":[...]}}, never a 500.
 *   <li>{@code Accept: text/event-stream} on POST: subscriptions stream {@code event: next} per result and
 *       {@code event: complete}; other operations answer one {@code next} then {@code complete}.
 *   <li>An answer (or one streamed result) over {@code graphql.max-response-size} bytes is replaced, while
 *       it is being written, by {@code {"errors":[{..., "extensions":{"code":"RESPONSE_TOO_LARGE"}}],
 *       "data":null}} with status 200: execution ran, its result cannot be sent.
 *   <li>When the client goes away (the engine cancels the answer), execution is cancelled and the
 *       sub-requests in flight are aborted with their upstream calls; no further field is fetched.
 * </ul>
 */
final class HttpTransport {
    static final String JSON = "application/json";
    static final String GRAPHQL_RESPONSE = "application/graphql-response+json";
    static final String EVENT_STREAM = "text/event-stream";

    private static final System.Logger LOG = System.getLogger(HttpTransport.class.getName());
    private static final byte[] EMPTY = {};

    private final GraphQL graphQl;
    private final GraphQlOptions options;
    /** Most bytes of one answer (options' limit, or the proxy's max body size). */
    private final long maxResponseSize;

    HttpTransport(GraphQL graphQl, GraphQlOptions options, long maxResponseSize) {
        this.graphQl = graphQl;
        this.options = options;
        this.maxResponseSize = maxResponseSize;
    }

    /** What the client accepts. */
    record Accept(boolean json, boolean graphqlResponse, boolean eventStream) {
        static Accept parse(List<String> headers) {
            if (headers.isEmpty()) {
                return new Accept(true, false, false);
            }
            boolean json = false;
            boolean gql = false;
            boolean sse = false;
            for (String header : headers) {
                for (String part : header.split(",")) {
                    String[] params = part.split(";");
                    String type = params[0].strip().toLowerCase(Locale.ROOT);
                    boolean refused = false;
                    for (int i = 1; i < params.length; i++) {
                        String p = params[i].strip().toLowerCase(Locale.ROOT);
                        if (p.startsWith("q=") && p.substring(2).matches("0(\\.0*)?")) {
                            refused = true;
                        }
                    }
                    if (refused) {
                        continue;
                    }
                    switch (type) {
                        case JSON, "application/*", "*/*" -> json = true;
                        case GRAPHQL_RESPONSE -> gql = true;
                        case EVENT_STREAM, "text/*" -> sse = true;
                        default -> {}
                    }
                }
            }
            return new Accept(json, gql, sse);
        }

        /** The media type of a JSON answer: graphql-response+json when named, else application/json. */
        String jsonType() {
            return graphqlResponse ? GRAPHQL_RESPONSE : JSON;
        }
    }

    /** A parsed GraphQL-over-HTTP request. */
    record GraphQlRequest(
            String query, String operationName, Map<String, Object> variables, Map<String, Object> extensions) {
        GraphQlRequest {
            // graphql-java runs the one operation for an empty name as for none: the transport's checks must
            // judge the same operation (a subscription named "" went past them, and its stream was never read).
            if (operationName != null && operationName.isEmpty()) {
                operationName = null;
            }
        }
    }

    /** A request the transport refuses before execution. */
    static final class RequestError extends RuntimeException {
        private static final long serialVersionUID = 1L;
        final int status;
        final Map<String, String> headers;
        /** The error's {@code extensions.code}; null: the one its status gives. */
        final String code;

        RequestError(int status, String message) {
            this(status, message, Map.of(), null);
        }

        RequestError(int status, String message, Map<String, String> headers) {
            this(status, message, headers, null);
        }

        RequestError(int status, String message, Map<String, String> headers, String code) {
            super(message, null, false, false);
            this.status = status;
            this.headers = headers;
            this.code = code;
        }
    }

    /**
     * A query sent by its hash only (Apollo's automatic persisted queries): no query is stored by hash here (a
     * client could fill the store), so the answer is the one Apollo's link takes to send the query itself and stop
     * sending hashes. Any other refusal fails the client's operation.
     */
    static final RequestError PERSISTED_QUERY_NOT_SUPPORTED =
            new RequestError(400, "PersistedQueryNotSupported", Map.of(), "PERSISTED_QUERY_NOT_SUPPORTED");

    enum Kind {
        QUERY,
        MUTATION,
        SUBSCRIPTION,
        UNKNOWN
    }

    CompletableFuture<ProxyResponse> handle(RouteCall call) {
        ProxyRequest request = call.request();
        Accept accept = Accept.parse(request.headers().allValues("Accept"));
        String errorType = accept.jsonType();
        if (!accept.json() && !accept.graphqlResponse() && !accept.eventStream()) {
            return done(error(
                    406,
                    JSON,
                    "Accept application/json, application/graphql-response+json or text/event-stream",
                    Map.of()));
        }
        GraphQlRequest gql;
        Kind kind;
        try {
            gql = request.method().equals("GET") ? fromQuery(request) : fromBody(request, call.body());
            if (gql.query().length() > options.maxDocumentSize()) {
                throw new RequestError(
                        400, "The query document is longer than " + options.maxDocumentSize() + " characters");
            }
            kind = kind(gql);
            if (request.method().equals("GET") && kind != Kind.QUERY && kind != Kind.UNKNOWN) {
                throw new RequestError(
                        405,
                        "Only queries may be sent with GET; send mutations and subscriptions with POST",
                        Map.of("Allow", "GET, HEAD, OPTIONS, POST"));
            }
            if (kind == Kind.SUBSCRIPTION
                    && (!accept.eventStream() || request.method().equals("GET"))) {
                throw new RequestError(
                        400,
                        "Subscriptions are delivered over Server-Sent Events: POST with Accept: text/event-stream");
            }
        } catch (RequestError e) {
            return done(error(e.status, errorType, e.getMessage(), e.headers, e.code));
        }
        boolean sse = kind == Kind.SUBSCRIPTION || (!accept.json() && !accept.graphqlResponse());
        InFlightCalls calls = new InFlightCalls(call);
        Map<Object, Object> context = new HashMap<>();
        context.put(RouteCall.class, calls);
        if (!options.introspection()) {
            context.put(Introspection.INTROSPECTION_DISABLED, true);
        }
        ExecutionInput input = ExecutionInput.newExecutionInput()
                .query(gql.query())
                .operationName(gql.operationName())
                .variables(gql.variables())
                .extensions(gql.extensions())
                .graphQLContext(context)
                .build();
        CompletableFuture<ProxyResponse> answer = graphQl.executeAsync(input).handle((result, failure) -> {
            if (failure != null) {
                if (!calls.cancelled()) {
                    LOG.log(System.Logger.Level.ERROR, "GraphQL execution failed", unwrap(failure));
                }
                return internalError();
            }
            return sse ? events(result, errorType) : json(result, accept.jsonType());
        });
        // The engine cancels the answer when the client goes away: stop fetching fields, abort what is running.
        answer.whenComplete((r, e) -> {
            if (answer.isCancelled()) {
                input.cancel();
                calls.cancel();
            }
        });
        return answer;
    }

    // --- answers

    private ProxyResponse json(ExecutionResult result, String type) {
        if (result.getData() instanceof Publisher<?> stream) {
            // A subscription answered as JSON (the checks before execution should have stopped it): its stream
            // is cancelled, so its upstream call and permit are let go, and the client told how to ask.
            stream.subscribe(new org.reactivestreams.Subscriber<Object>() {
                @Override
                public void onSubscribe(org.reactivestreams.Subscription s) {
                    s.cancel();
                }

                @Override
                public void onNext(Object item) {}

                @Override
                public void onError(Throwable t) {}

                @Override
                public void onComplete() {}
            });
            return error(
                    400,
                    type,
                    "Subscriptions are delivered over Server-Sent Events: POST with Accept: text/event-stream",
                    Map.of());
        }
        int status = type.equals(GRAPHQL_RESPONSE) && !result.isDataPresent() ? 400 : 200;
        byte[] bytes = capped(specification(result));
        if (bytes == null) {
            return body(200, type, tooLarge(), Map.of());
        }
        return bytes(status, type, bytes, Map.of());
    }

    /**
     * The answer as a {@code next} event, or the RESPONSE_TOO_LARGE error in its place: serialized once, straight
     * into the event's bytes.
     */
    private ByteBuffer nextEvent(ExecutionResult result) {
        CappedBuffer out = serialize(specification(result), SseEvents.NEXT, SseEvents.END);
        return out == null ? SseEvents.next(write(tooLarge()).getBytes(StandardCharsets.UTF_8)) : out.asBuffer();
    }

    /** Serializes an answer; null as soon as it passes the cap (the rest is never serialized). */
    private byte[] capped(Object json) {
        CappedBuffer out = serialize(json, EMPTY, EMPTY);
        return out == null ? null : out.toByteArray();
    }

    /**
     * Writes {@code before}, the answer's JSON and {@code after}, counting the JSON's bytes against the cap as
     * they are written: null as soon as it passes the cap.
     */
    private CappedBuffer serialize(Object json, byte[] before, byte[] after) {
        CappedBuffer out = new CappedBuffer(maxResponseSize + before.length + after.length);
        try {
            out.write(before, 0, before.length);
            SubRequests.JSON.writeValue(out, json);
            out.write(after, 0, after.length);
        } catch (java.io.IOException | RuntimeException e) { // Jackson may wrap the overflow
            if (out.over) {
                LOG.log(
                        System.Logger.Level.WARNING,
                        "a GraphQL answer is larger than {0} bytes (graphql.max-response-size): not sent",
                        maxResponseSize);
                return null;
            }
            throw new IllegalStateException("cannot write a GraphQL answer", e);
        }
        return out;
    }

    private Map<String, Object> tooLarge() {
        Map<String, Object> error = new LinkedHashMap<>();
        error.put("message", "The answer is larger than " + maxResponseSize + " bytes (graphql.max-response-size)");
        error.put("extensions", Map.of("code", "RESPONSE_TOO_LARGE"));
        Map<String, Object> answer = new LinkedHashMap<>();
        answer.put("errors", List.of(error));
        answer.put("data", null);
        return answer;
    }

    /** An in-memory answer that refuses to grow past its cap. */
    private ProxyResponse events(ExecutionResult result, String errorType) {
        if (!result.isDataPresent()) {
            // Refused before execution (syntax, validation, limits): a plain JSON answer, as for any request error.
            return body(400, errorType, specification(result), Map.of());
        }
        java.util.concurrent.Flow.Publisher<List<ByteBuffer>> stream;
        Object data = result.getData();
        if (data instanceof Publisher<?> publisher) {
            @SuppressWarnings("unchecked")
            Publisher<ExecutionResult> results = (Publisher<ExecutionResult>) publisher;
            stream =
                    new SseEvents<>(FlowAdapters.toFlowPublisher(results), this::nextEvent, HttpTransport::streamError);
        } else {
            stream = new SseEvents<>(Publishers.just(result), this::nextEvent, HttpTransport::streamError);
        }
        return ProxyResponse.builder(200).events(stream).build();
    }

    private static String streamError(Throwable t) {
        Throwable c = unwrap(t);
        while (c != null && !(c instanceof ChatChunks.StreamFailure)) {
            c = c.getCause();
        }
        String message = c != null ? c.getMessage() : "The stream failed";
        Map<String, Object> error = new LinkedHashMap<>();
        error.put("message", message);
        error.put("extensions", Map.of("code", "UPSTREAM_ERROR"));
        return write(Map.of("errors", List.of(error)));
    }

    static ProxyResponse internalError() {
        Map<String, Object> error = new LinkedHashMap<>();
        error.put("message", "Internal error");
        error.put("extensions", Map.of("code", "INTERNAL_SERVER_ERROR"));
        return body(500, JSON, Map.of("errors", List.of(error)), Map.of());
    }

    private static ProxyResponse error(int status, String type, String message, Map<String, String> headers) {
        return error(status, type, message, headers, null);
    }

    private static ProxyResponse error(
            int status, String type, String message, Map<String, String> headers, String code) {
        Map<String, Object> error = new LinkedHashMap<>();
        error.put("message", message);
        error.put(
                "extensions",
                Map.of(
                        "code",
                        code != null
                                ? code
                                : status == 405
                                        ? "METHOD_NOT_ALLOWED"
                                        : status == 406
                                                ? "NOT_ACCEPTABLE"
                                                : status == 415 ? "UNSUPPORTED_MEDIA_TYPE" : "BAD_REQUEST"));
        return body(status, type, Map.of("errors", List.of(error)), headers);
    }

    private static Map<String, Object> specification(ExecutionResult result) {
        // Codes are added to the errors only: copy the top level and each error into mutable maps, never the
        // data (up to a thousand history messages, or one copy per streamed chunk).
        Map<String, Object> spec = new LinkedHashMap<>(result.toSpecification());
        if (spec.get("errors") instanceof List<?> errors) {
            spec.put(
                    "errors",
                    errors.stream()
                            .map(e -> e instanceof Map<?, ?> m ? (Object) new LinkedHashMap<>(m) : e)
                            .toList());
        }
        ProxyErrors.addCodes(spec);
        return spec;
    }

    private static ProxyResponse body(int status, String type, Object json, Map<String, String> headers) {
        return bytes(status, type, write(json).getBytes(StandardCharsets.UTF_8), headers);
    }

    private static ProxyResponse bytes(int status, String type, byte[] bytes, Map<String, String> headers) {
        return ProxyResponse.builder(status)
                .headers(headers)
                .header("Content-Type", type + "; charset=utf-8")
                .json(bytes)
                .build();
    }

    private static String write(Object json) {
        try {
            return SubRequests.JSON.writeValueAsString(json);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write a GraphQL answer", e);
        }
    }

    // --- requests

    /**
     * A client's request: one value, and no member named twice (a filter in front of the proxy would read one
     * {@code query}, the engine run the other), as REST refuses them.
     */
    private static final com.fasterxml.jackson.databind.ObjectMapper REQUEST_JSON =
            com.fasterxml.jackson.databind.json.JsonMapper.builder()
                    .enable(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
                    .enable(com.fasterxml.jackson.core.StreamReadFeature.STRICT_DUPLICATE_DETECTION)
                    .build();

    private static GraphQlRequest fromBody(ProxyRequest request, byte[] body) {
        String contentType = request.header("Content-Type").orElse("");
        String mediaType = contentType.split(";", 2)[0].strip().toLowerCase(Locale.ROOT);
        if (!mediaType.equals(JSON)) {
            throw new RequestError(415, "Send the GraphQL request as application/json");
        }
        JsonNode json;
        try {
            json = REQUEST_JSON.readTree(body);
        } catch (java.io.IOException e) {
            throw new RequestError(400, "The request body is not valid JSON");
        }
        if (!(json instanceof ObjectNode o)) {
            throw new RequestError(400, "The request body must be a JSON object with a query");
        }
        Map<String, Object> extensions = object(o.get("extensions"), "extensions");
        return new GraphQlRequest(
                query(o.get("query"), extensions),
                text(o.get("operationName"), "operationName"),
                object(o.get("variables"), "variables"),
                extensions);
    }

    /** The parameters of a GET request; each at most once, as a JSON body names each member once. */
    private static final java.util.Set<String> GET_PARAMETERS =
            java.util.Set.of("query", "operationName", "variables", "extensions");

    private static GraphQlRequest fromQuery(ProxyRequest request) {
        Map<String, String> params = new HashMap<>();
        for (String pair : request.rawQuery().orElse("").split("&")) {
            if (pair.isEmpty()) {
                continue;
            }
            int eq = pair.indexOf('=');
            try {
                String key = URLDecoder.decode(eq < 0 ? pair : pair.substring(0, eq), StandardCharsets.UTF_8);
                String value = eq < 0 ? "" : URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8);
                if (params.putIfAbsent(key, value) != null && GET_PARAMETERS.contains(key)) {
                    throw new RequestError(400, "The query string gives " + key + " twice");
                }
            } catch (IllegalArgumentException e) {
                throw new RequestError(400, "The query string is not properly encoded");
            }
        }
        Map<String, Object> extensions = object(parseParam(params.get("extensions"), "extensions"), "extensions");
        return new GraphQlRequest(
                query(
                        params.containsKey("query")
                                ? SubRequests.JSON.getNodeFactory().textNode(params.get("query"))
                                : null,
                        extensions),
                Optional.ofNullable(params.get("operationName"))
                        .filter(s -> !s.isEmpty())
                        .orElse(null),
                object(parseParam(params.get("variables"), "variables"), "variables"),
                extensions);
    }

    private static JsonNode parseParam(String value, String name) {
        if (value == null || value.isEmpty()) {
            return null;
        }
        try {
            return REQUEST_JSON.readTree(value);
        } catch (java.io.IOException e) {
            throw new RequestError(400, name + " must be a JSON object");
        }
    }

    private static String query(JsonNode q, Map<String, Object> extensions) {
        if (q == null || q.isNull()) {
            if (extensions.get("persistedQuery") instanceof Map<?, ?>) {
                throw PERSISTED_QUERY_NOT_SUPPORTED;
            }
            throw new RequestError(400, "The request has no query");
        }
        if (!q.isTextual() || q.textValue().isBlank()) {
            throw new RequestError(400, "query must be a non-empty string");
        }
        return q.textValue();
    }

    private static String text(JsonNode n, String name) {
        if (n == null || n.isNull()) {
            return null;
        }
        if (!n.isTextual()) {
            throw new RequestError(400, name + " must be a string");
        }
        return n.textValue();
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> object(JsonNode n, String name) {
        if (n == null || n.isNull()) {
            return Map.of();
        }
        if (!n.isObject()) {
            throw new RequestError(400, name + " must be a JSON object");
        }
        return SubRequests.JSON.convertValue(n, Map.class);
    }

    /** The kind of the operation to run; UNKNOWN when the document does not parse (execution says why). */
    private static Kind kind(GraphQlRequest request) {
        Document document;
        try {
            document = Parser.parse(request.query());
        } catch (RuntimeException e) { // InvalidSyntaxException among others
            return Kind.UNKNOWN;
        }
        OperationDefinition chosen = null;
        for (OperationDefinition op : document.getDefinitionsOfType(OperationDefinition.class)) {
            if (request.operationName() == null) {
                if (chosen != null) {
                    return Kind.UNKNOWN; // several operations and no name: execution reports it
                }
                chosen = op;
            } else if (request.operationName().equals(op.getName())) {
                chosen = op;
            }
        }
        if (chosen == null) {
            return Kind.UNKNOWN;
        }
        return switch (chosen.getOperation()) {
            case QUERY -> Kind.QUERY;
            case MUTATION -> Kind.MUTATION;
            case SUBSCRIPTION -> Kind.SUBSCRIPTION;
        };
    }

    private static Throwable unwrap(Throwable t) {
        Throwable c = t;
        while (c instanceof CompletionException && c.getCause() != null) {
            c = c.getCause();
        }
        return c;
    }

    private static <T> CompletableFuture<T> done(T value) {
        return CompletableFuture.completedFuture(value);
    }
}
