package io.github.openaiproxy.core;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.openaiproxy.core.access.Identity;
import io.github.openaiproxy.core.error.ProxyError;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.images.Images;
import io.github.openaiproxy.core.internal.Bodies;
import io.github.openaiproxy.core.internal.BodyCollector;
import io.github.openaiproxy.core.internal.BodyTimeoutException;
import io.github.openaiproxy.core.internal.BodyTooLargeException;
import io.github.openaiproxy.core.internal.Failures;
import io.github.openaiproxy.core.internal.HeaderMap;
import io.github.openaiproxy.core.internal.Json;
import io.github.openaiproxy.core.keys.KeyResolver;
import io.github.openaiproxy.core.normalize.ChatRequestNormalizer;
import io.github.openaiproxy.core.normalize.ImageActionDetector;
import io.github.openaiproxy.core.normalize.ImageRequestNormalizer;
import io.github.openaiproxy.core.normalize.Normalized;
import io.github.openaiproxy.core.observe.ProxyObserver;
import io.github.openaiproxy.core.route.RouteCall;
import io.github.openaiproxy.core.route.RouteKind;
import io.github.openaiproxy.core.session.ChatSessions;
import java.io.IOException;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;

/**
 * The steps behind the checks, one chain per kind of route (see {@link RequestPipeline}): reading the
 * body, the simple routes' parsing and normalization, the pass-through routes' body, a module route's
 * call, the key, and the chat sessions around the upstream call.
 */
final class RouteHandlers {
    private static final System.Logger LOG = System.getLogger(ProxyEngine.class.getName());

    private RouteHandlers() {}

    /** Reads the body whole, counting it against the limit (413), for the routes that need all of it. */
    static final class ReadBody implements RequestStep {
        private final long limit;

        ReadBody(long limit) {
            this.limit = limit;
        }

        @Override
        public CompletableFuture<ProxyResponse> handle(RequestContext ctx, Chain next) {
            if (!RequestChecks.hasBody(ctx.request)) {
                ctx.body = Bodies.empty();
                return next.proceed(ctx);
            }
            return readWhole(ctx, bodyLimit(ctx, limit), body -> {
                ctx.body = body;
                return next.proceed(ctx);
            });
        }
    }

    /** The body limit of the request's route: the proxy's, or a custom route's own when that is smaller. */
    static long bodyLimit(RequestContext ctx, long proxyLimit) {
        return ctx.route != null && ctx.route.custom() != null
                ? Math.min(proxyLimit, ctx.route.custom().maxBodySize())
                : proxyLimit;
    }

    /**
     * A self-authenticating route's refusal from the request's headers, before its body is read (see
     * {@link io.github.openaiproxy.core.route.CustomRoute#refuseBeforeBody}). A 401 or 403 refuses the caller as
     * the access checks do, so observers count it as theirs: the reason is the error's code (the admin API's
     * {@code invalid_api_key}, {@code admin_role_required}, {@code admin_cross_origin}), with no policy.
     */
    enum RefuseBeforeBody implements RequestStep {
        STEP;

        /** The reason of a refusal whose error has no code. */
        static final String NO_CODE = "refused";

        @Override
        public CompletableFuture<ProxyResponse> handle(RequestContext ctx, Chain next) {
            java.util.Optional<ProxyError> refused = ctx.route.custom().refuseBeforeBody(ctx.request);
            if (refused.isEmpty()) {
                return next.proceed(ctx);
            }
            ProxyError e = refused.get();
            if (e.status() == 401 || e.status() == 403) {
                return ctx.refuse(e, e.code() == null ? NO_CODE : e.code(), ProxyObserver.Observation.NO_POLICY);
            }
            return ctx.respond(e);
        }
    }

    /**
     * Reads the request's body whole, up to {@code limit}, then runs {@code then} with it: over the limit the
     * answer is 413, a body the client broke off while sending is 400 (nobody is listening, but the answer is
     * clean).
     */
    static CompletableFuture<ProxyResponse> readWhole(
            RequestContext ctx, long limit, Function<byte[], CompletableFuture<ProxyResponse>> then) {
        return BodyCollector.collect(ctx.request.body(), limit)
                .handle((body, error) -> error == null ? then.apply(body) : unreadable(ctx, error, limit))
                .thenCompose(Function.identity());
    }

    /** The answer to a body that failed while read: 413 over {@code limit}, 408 too slow, else 400. */
    static CompletableFuture<ProxyResponse> unreadable(RequestContext ctx, Throwable error, long limit) {
        Throwable cause = Failures.unwrap(error);
        if (cause instanceof BodyTooLargeException) {
            return ctx.respond(ProxyError.payloadTooLarge(limit));
        }
        if (cause instanceof BodyTimeoutException late) {
            return ctx.respond(ProxyError.requestTimeout(late.timeout()));
        }
        LOG.log(System.Logger.Level.DEBUG, "request body could not be read: {0}", cause.toString());
        return ctx.respond(ProxyError.badRequest("Bad Request", "The request body could not be read", null));
    }

    /**
     * The simple routes' handler: parses the JSON body (400), tells chat from image, takes the session the
     * body asks for, and normalizes the body into what the upstream gets.
     */
    static final class Simple implements RequestStep {
        private final ChatRequestNormalizer chat;
        private final ImageRequestNormalizer image;
        private final ChatSessions sessions;

        Simple(ChatRequestNormalizer chat, ImageRequestNormalizer image, ChatSessions sessions) {
            this.chat = chat;
            this.image = image;
            this.sessions = sessions;
        }

        @Override
        public CompletableFuture<ProxyResponse> handle(RequestContext ctx, Chain next) {
            JsonNode json;
            try {
                json = Json.parse(ctx.body);
            } catch (IOException | RuntimeException e) {
                return ctx.respond(ProxyError.invalidJson());
            }
            if (!(json instanceof ObjectNode object)) {
                return ctx.respond(ProxyError.notAnObject(describe(json)));
            }
            boolean isImage = ctx.route.kind() == RouteKind.IMAGE || ImageActionDetector.isImageRequest(object);
            ChatSessions.Ask session = sessions.take(object, isImage);
            if (session instanceof ChatSessions.Ask.Rejected rejected) {
                return ctx.respond(rejected.error());
            }
            ctx.session = session;
            Normalized outcome = isImage ? image.normalize(object) : chat.normalize(object);
            if (outcome instanceof Normalized.Rejected rejected) {
                return ctx.respond(rejected.error());
            }
            Normalized.Accepted normalized = (Normalized.Accepted) outcome;
            ctx.clientBody = object;
            ctx.normalized = normalized;
            ctx.model = normalized.model();
            ctx.upstreamBody = Json.bytes(normalized.body());
            return next.proceed(ctx);
        }

        private static String describe(JsonNode json) {
            if (json.isArray()) {
                return "an array";
            }
            if (json.isTextual()) {
                return "a string";
            }
            if (json.isNumber()) {
                return "a number";
            }
            if (json.isBoolean()) {
                return "a boolean";
            }
            return json.isNull() ? "null" : json.getNodeType().name().toLowerCase(Locale.ROOT);
        }
    }

    /**
     * The pass-through routes' handler: the body is not read here but streams to the upstream as it
     * arrives, counted against the limit on the way (see {@link CountedRequestBody}): {@code max-upload-size} for an
     * upload, else {@code max-body-size} (see {@link BodyLimits}).
     */
    static final class PassThrough implements RequestStep {
        private final BodyLimits limits;

        PassThrough(BodyLimits limits) {
            this.limits = limits;
        }

        @Override
        public CompletableFuture<ProxyResponse> handle(RequestContext ctx, Chain next) {
            if (ctx.body != null) {
                return next.proceed(ctx); // the authorize step read it for its policy, and it is sent as it left it
            }
            ctx.body = Bodies.empty();
            if (RequestChecks.hasBody(ctx.request) && declaredLength(ctx.request) != 0) {
                ctx.streamed = new CountedRequestBody(
                        ctx.held != null ? ctx.held : ctx.request.body(), limits.of(ctx), ctx.wantsDetails);
            }
            return next.proceed(ctx);
        }
    }

    /**
     * The request's {@code Content-Length}, or -1 when it declares none or an unreadable one (then the body's
     * real size is counted as it is read).
     */
    static long declaredLength(ProxyRequest request) {
        String value = request.header("Content-Length").orElse(null);
        if (value == null) {
            return -1;
        }
        try {
            return Long.parseLong(value.strip());
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    /** Resolves the key the upstream call carries: the server's or the client's (403/500). */
    static final class ResolveKey implements RequestStep {
        private final KeyResolver keys;

        ResolveKey(KeyResolver keys) {
            this.keys = keys;
        }

        @Override
        public CompletableFuture<ProxyResponse> handle(RequestContext ctx, Chain next) {
            if (ctx.target != null) {
                return next.proceed(ctx); // a named upstream's own key is taken when the call is sent
            }
            KeyResolver.Resolution resolution = keys.resolve(ctx.request.headers());
            if (resolution instanceof KeyResolver.Resolution.Refused refused) {
                return ctx.respond(refused.error());
            }
            KeyResolver.Resolution.Resolved resolved = (KeyResolver.Resolution.Resolved) resolution;
            ctx.key = resolved.key();
            ctx.clientKey = resolved.fromClient();
            return next.proceed(ctx);
        }
    }

    /**
     * Chat sessions around the upstream call, a decorator: begins the turn (loads the history, 404 for an
     * unknown session), lets the call go on with the history as context, and records the answer. A request
     * without a session passes straight through.
     */
    static final class Sessions implements RequestStep {
        private final ChatSessions sessions;
        private final long limit;

        Sessions(ChatSessions sessions, long limit) {
            this.sessions = sessions;
            this.limit = limit;
        }

        @Override
        public CompletableFuture<ProxyResponse> handle(RequestContext ctx, Chain next) {
            if (!(ctx.session instanceof ChatSessions.Ask.Use use)) {
                return next.proceed(ctx);
            }
            Normalized.Accepted chat = ctx.normalized;
            CompletableFuture<ChatSessions.Begun> begun = ctx.inFlight.track(PerClientChecks.run(
                    ctx.callerAddress(), () -> sessions.begin(use, ctx.identity, chat.body(), limit)));
            return begun.thenCompose(b -> {
                if (b instanceof ChatSessions.Begun.Failed failed) {
                    return ctx.respond(failed.error());
                }
                ChatSessions.Begun.Ready ready = (ChatSessions.Begun.Ready) b;
                // Without history the body is the normalized one, already serialized.
                if (ready.upstreamBody() != chat.body()) {
                    byte[] bytes = Json.bytes(ready.upstreamBody());
                    if (bytes.length > limit) {
                        // The history made the body too large: the upstream gets no more than a client may send.
                        return ctx.respond(ProxyError.payloadTooLarge(limit));
                    }
                    ctx.upstreamBody = bytes;
                }
                // Only the turn is kept for the answer, not the body's tree with its history.
                ChatSessions.Turn turn = ready.turn();
                if ("/v1/images/generations".equals(chat.upstreamPath())) {
                    // StoreImages (inside this step) has stored the images and says where.
                    return next.proceed(ctx)
                            .thenCompose(answer -> sessions.recordImages(turn, answer, ctx.storedImageLinks));
                }
                return next.proceed(ctx).thenCompose(answer -> sessions.record(turn, answer));
            });
        }
    }

    /**
     * Stores the images of a successful image generation (a simple image route, or {@code POST
     * /v1/images/generations}) before the answer goes out, and points its links at the proxy; on when
     * {@code images.store} is not none. Inside the session step, so a session records the proxy's links.
     */
    static final class StoreImages implements RequestStep {
        private static final String GENERATIONS = "/v1/images/generations";
        private final Images images;

        StoreImages(Images images) {
            this.images = images;
        }

        @Override
        public CompletableFuture<ProxyResponse> handle(RequestContext ctx, Chain next) {
            boolean generation = ctx.normalized != null
                    ? GENERATIONS.equals(ctx.normalized.upstreamPath())
                    : ctx.route != null && GENERATIONS.equals(ctx.route.template());
            if (!generation) {
                return next.proceed(ctx);
            }
            Identity identity = ctx.identity;
            // b64_json images only for a session, which records their links: the answer itself names none.
            boolean forSession = ctx.session instanceof ChatSessions.Ask.Use;
            return next.proceed(ctx)
                    .thenCompose(answer ->
                            images.save(answer, identity, ctx.request.basePath(), forSession, ctx.observation))
                    .thenApply(saved -> {
                        ctx.storedImageLinks = saved.links(); // for the session step around this one
                        return saved.response();
                    });
        }
    }

    /** Sends the request a module route makes of the body to that route, and adds the request's headers. */
    static final class Custom implements RequestStep {
        private final SubRequests subRequests;

        Custom(SubRequests subRequests) {
            this.subRequests = subRequests;
        }

        @Override
        public CompletableFuture<ProxyResponse> handle(RequestContext ctx, Chain next) {
            ProxyRequest request = ctx.request;
            byte[] body = ctx.body;
            RouteCall call = new RouteCall() {
                @Override
                public ProxyRequest request() {
                    return request;
                }

                @Override
                public byte[] body() {
                    return body.clone();
                }

                @Override
                public CompletableFuture<ProxyResponse> dispatch(ProxyRequest sub) {
                    // A module's upstream calls are made for this client: they count against its cap too, by
                    // the address the identify step counted it by, whatever address the module wrote (its peer's,
                    // a load balancer shared by every client, would put them all under one cap).
                    String client = ctx.callerAddress();
                    return subRequests.handle(client != null ? sub.withRemoteAddress(client) : sub, ctx.identity);
                }

                @Override
                public Identity identity() {
                    return ctx.identity;
                }
            };
            // The route's store calls (sessions, images) count against this client's share of their queues.
            CompletableFuture<ProxyResponse> answer = ctx.inFlight.track(PerClientChecks.run(
                    ctx.callerAddress(), () -> ctx.route.custom().handle(call)));
            return answer.thenApply(r -> {
                HeaderMap h = ctx.responses().baseHeaders();
                r.headers().map().forEach((name, values) -> {
                    // The base already says nosniff, the header's only value: a route's own would repeat it.
                    if (!name.equalsIgnoreCase("X-Content-Type-Options")) {
                        values.forEach(v -> h.add(name, v));
                    }
                });
                return new ProxyResponse(r.status(), h.build(), r.body(), r.streaming());
            });
        }
    }

    /** Where a module route's sub-requests go: back into the engine, observed as sub-requests. */
    @FunctionalInterface
    interface SubRequests {
        CompletableFuture<ProxyResponse> handle(ProxyRequest request, Identity identity);
    }
}
