package io.github.openaiproxy.graphql;

import graphql.GraphQL;
import graphql.analysis.MaxQueryComplexityInstrumentation;
import graphql.analysis.MaxQueryDepthInstrumentation;
import graphql.execution.DataFetcherExceptionHandler;
import graphql.execution.DataFetcherExceptionHandlerResult;
import graphql.execution.instrumentation.ChainedInstrumentation;
import graphql.schema.GraphQLSchema;
import graphql.schema.idl.RuntimeWiring;
import graphql.schema.idl.SchemaGenerator;
import graphql.schema.idl.SchemaParser;
import graphql.schema.idl.TypeDefinitionRegistry;
import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.access.AccessConfig;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.route.CustomRoute;
import io.github.openaiproxy.core.route.RouteCall;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

/**
 * The GraphQL API as a route of the proxy, {@code /graphql} by default. Mount it on the engine and every
 * adapter serves it with the proxy's CORS, method and size handling:
 *
 * <pre>{@code
 * ProxyEngine engine = ProxyEngine.builder(config).route(GraphQlRoute.create(config)).build();
 * }</pre>
 *
 * <p>The schema is {@code schema.graphqls} next to this class. Requests follow the GraphQL-over-HTTP
 * specification (POST JSON, GET for queries, {@code application/graphql-response+json} when asked for);
 * the {@code chatStream} subscription is delivered over Server-Sent Events (GraphQL over SSE, distinct
 * connections mode). Its data fetchers run sub-requests through the proxy's own routes.
 */
public final class GraphQlRoute implements CustomRoute {
    /** Where the schema lives on the class path. */
    public static final String SCHEMA = "/io/github/openaiproxy/graphql/schema.graphqls";

    /** The admin fields, added to {@link #SCHEMA} only when the admin API is on ({@code admin.enabled}). */
    public static final String ADMIN_SCHEMA = "/io/github/openaiproxy/graphql/admin.graphqls";

    private static final System.Logger LOG = System.getLogger(GraphQlRoute.class.getName());

    private final GraphQlOptions options;
    private final HttpTransport transport;

    private GraphQlRoute(ProxyConfig config, GraphQlOptions options) {
        this.options = Objects.requireNonNull(options, "options");
        long maxResponseSize = options.maxResponseSize() > 0 ? options.maxResponseSize() : config.maxBodySize();
        this.transport = new HttpTransport(graphQl(config, options), options, maxResponseSize);
    }

    /** The endpoint with default options. */
    public static GraphQlRoute create(ProxyConfig config) {
        return create(config, GraphQlOptions.DEFAULTS);
    }

    /**
     * The endpoint with the given options.
     *
     * @param config the engine's configuration (its image defaults are reported by {@code generateImage})
     */
    public static GraphQlRoute create(ProxyConfig config, GraphQlOptions options) {
        return new GraphQlRoute(config, options);
    }

    /** The schema's SDL text (without the admin fields). */
    public static String schemaText() {
        return resource(SCHEMA);
    }

    /** The admin fields' SDL text: {@code extend type Query} and {@code Mutation}, served when the admin API is on. */
    public static String adminSchemaText() {
        return resource(ADMIN_SCHEMA);
    }

    private static String resource(String name) {
        try (InputStream in = GraphQlRoute.class.getResourceAsStream(name)) {
            if (in == null) {
                throw new IllegalStateException("schema not found on the class path: " + name);
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public GraphQlOptions options() {
        return options;
    }

    @Override
    public String path() {
        return options.path();
    }

    /** {@code graphql}, wherever it is mounted: the name a policy's {@code routes} rule allows it by. */
    @Override
    public String name() {
        return "graphql";
    }

    @Override
    public Set<String> methods() {
        return Set.of("GET", "POST");
    }

    @Override
    public CompletableFuture<ProxyResponse> handle(RouteCall call) {
        try {
            return transport.handle(call);
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.ERROR, "GraphQL request failed", e);
            return CompletableFuture.completedFuture(HttpTransport.internalError());
        }
    }

    private static boolean cancelled(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof java.util.concurrent.CancellationException) {
                return true;
            }
        }
        return false;
    }

    private static GraphQL graphQl(ProxyConfig config, GraphQlOptions options) {
        TypeDefinitionRegistry types = new SchemaParser().parse(schemaText());
        AccessConfig.Admin admin = config.access().admin();
        if (admin.enabled()) {
            // Off, the admin fields do not exist: nothing to probe, nothing in introspection.
            types.merge(new SchemaParser().parse(adminSchemaText()));
        }
        ProxyFetchers fetchers = new ProxyFetchers(config);
        AdminFetchers adminFetchers = new AdminFetchers(admin, config.maxBodySize());
        RuntimeWiring wiring = RuntimeWiring.newRuntimeWiring()
                .scalar(JsonScalar.JSON)
                .type(
                        "Query",
                        t -> t.dataFetcher("chatHistory", fetchers.chatHistory())
                                .dataFetcher("chatHistoryPage", fetchers.chatHistoryPage()))
                .type(
                        "Mutation",
                        t -> t.dataFetcher("getAIResponse", fetchers.getAIResponse())
                                .dataFetcher("generateImage", fetchers.generateImage())
                                .dataFetcher("createSession", fetchers.createSession())
                                .dataFetcher("deleteSession", fetchers.deleteSession()))
                .type(
                        "Query",
                        t -> admin.enabled()
                                ? t.dataFetcher("adminKeys", adminFetchers.keys())
                                        .dataFetcher("adminKey", adminFetchers.key())
                                        .dataFetcher("adminPolicies", adminFetchers.policies())
                                        .dataFetcher("adminPolicy", adminFetchers.policy())
                                        .dataFetcher("adminAudit", adminFetchers.audit())
                                        .dataFetcher("adminAuditPage", adminFetchers.auditPage())
                                        .dataFetcher("adminUsage", adminFetchers.usage())
                                : t)
                .type(
                        "Mutation",
                        t -> admin.enabled()
                                ? t.dataFetcher("adminCreateKey", adminFetchers.createKey())
                                        .dataFetcher("adminRevokeKey", adminFetchers.revokeKey())
                                        .dataFetcher("adminRotateKey", adminFetchers.rotateKey())
                                        .dataFetcher("adminChangeKeyPolicy", adminFetchers.changeKeyPolicy())
                                        .dataFetcher("adminSavePolicy", adminFetchers.savePolicy())
                                        .dataFetcher("adminDeletePolicy", adminFetchers.deletePolicy())
                                        .dataFetcher("adminDeleteImage", adminFetchers.deleteImage())
                                : t)
                .type("Subscription", t -> t.dataFetcher("chatStream", fetchers.chatStream()))
                .build();
        GraphQLSchema schema = new SchemaGenerator().makeExecutableSchema(types, wiring);
        DataFetcherExceptionHandler unexpected = parameters -> {
            if (cancelled(parameters.getException())) {
                // The client went away and its sub-requests were cancelled: nothing failed.
                LOG.log(System.Logger.Level.DEBUG, "a GraphQL data fetcher was cancelled");
            } else {
                LOG.log(System.Logger.Level.ERROR, "a GraphQL data fetcher failed", parameters.getException());
            }
            return CompletableFuture.completedFuture(
                    DataFetcherExceptionHandlerResult.newResult(graphql.GraphqlErrorBuilder.newError()
                                    .message("Internal error")
                                    .path(parameters.getPath())
                                    .location(parameters.getSourceLocation())
                                    .errorType(ProxyErrors.Classification.of("INTERNAL_SERVER_ERROR"))
                                    .extensions(java.util.Map.of("code", "INTERNAL_SERVER_ERROR"))
                                    .build())
                            .build());
        };
        return GraphQL.newGraphQL(schema)
                .instrumentation(new ChainedInstrumentation(List.of(
                        new DocumentLimits(options.maxComplexity()),
                        new MaxQueryDepthInstrumentation(options.maxDepth()),
                        new MaxQueryComplexityInstrumentation(options.maxComplexity(), GraphQlRoute::complexity),
                        new UpstreamCallLimit(options.maxUpstreamCalls()))))
                .defaultDataFetcherExceptionHandler(unexpected)
                .build();
    }

    /** What one top-level field counts towards {@code graphql.max-complexity}: each runs a route of the proxy's. */
    static final int ROOT_FIELD_COMPLEXITY = 25;

    /**
     * A field's complexity: one, and {@value #ROOT_FIELD_COMPLEXITY} for a top-level field, which runs a request
     * through the proxy's own routes (a chat, a session's history of up to {@code sessions.max-page-size}, an admin
     * listing): a hundred aliases of {@code chatHistory} in one small request would read a hundred pages. With the
     * default of 500, an operation holds at most 20 of them.
     */
    static int complexity(graphql.analysis.FieldComplexityEnvironment env, int childComplexity) {
        boolean root =
                env.getParentEnvironment() == null && !env.getField().getName().startsWith("__");
        return (root ? ROOT_FIELD_COMPLEXITY : 1) + childComplexity;
    }
}
