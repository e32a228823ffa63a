package io.github.openaiproxy.core;

import io.github.openaiproxy.core.access.Identity;
import io.github.openaiproxy.core.cors.CorsPolicy;
import io.github.openaiproxy.core.error.ErrorStyle;
import io.github.openaiproxy.core.error.ProxyError;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.keys.ApiKey;
import io.github.openaiproxy.core.normalize.Normalized;
import io.github.openaiproxy.core.observe.ProxyObserver;
import io.github.openaiproxy.core.relay.ResponseFactory;
import io.github.openaiproxy.core.route.Route;
import io.github.openaiproxy.core.session.ChatSessions;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;

/**
 * One request on its way through the {@link RequestPipeline}: the request and what the steps learned
 * about it so far. Not shared between requests; the steps run one after the other, so its fields need no
 * locks. It is not the pipeline's cursor ({@link PipelineCursor}): a step passes the request on only through the
 * {@code next} it is given.
 */
public final class RequestContext {
    private static final String UNMATCHED = "unmatched";

    final ProxyRequest request;
    final ProxyObserver.Observation observation;
    final boolean wantsDetails;
    final boolean subRequest;
    final RequestInFlight inFlight;
    /** The {@link System#nanoTime()} the engine took the request at, for the {@code Server-Timing} header. */
    long startedAt;

    /** The proxy's id for its own answer to this request, made when first asked (see {@link RequestIds}). */
    private String requestId;
    /**
     * Whether the request's answer is known ({@link #finish}): nothing passes the request on after it, neither a
     * host step that kept its {@code next} nor the engine's steps behind a host step that answered without them.
     */
    private volatile boolean answered;
    /** Whether a log line named {@link #requestId}: the engine then needs no line of its own for it. */
    boolean requestIdLogged;

    /** The matched route, {@code null} when none matches. */
    Route route;

    ErrorStyle style;
    CorsPolicy.Verdict verdict;
    /** Builds the proxy's own answers; carries the CORS headers once the CORS step has judged the origin. */
    ResponseFactory responses;
    /**
     * The request body, once read whole (empty for a method without one); on a pass-through route, set only
     * when the authorize step read it for a policy's rules (possibly rewritten), else it streams.
     */
    byte[] body;
    /** The pass-through routes' body, streamed to the upstream as it arrives; {@code null} for none. */
    CountedRequestBody streamed;

    /**
     * An upload's first bytes, held by the routing step (its multipart model read), then the rest as it arrives: what
     * {@link #streamed} streams instead of the request's body; {@code null} when nothing was held.
     */
    HeldBody held;
    /** The simple routes' body as the client sent it, parsed (to tell its values from the defaults). */
    com.fasterxml.jackson.databind.node.ObjectNode clientBody;
    /**
     * The simple routes' normalized body and the session it asks for. Its body is {@code null} once the upstream
     * call is sent ({@link #dropTrees}).
     */
    Normalized.Accepted normalized;

    ChatSessions.Ask session;
    /** The body the upstream gets, for the simple routes (serialized from {@link #normalized}). */
    byte[] upstreamBody;
    /** The proxy's links of the images StoreImages stored for this answer (for the session step); or null. */
    java.util.List<String> storedImageLinks;

    /** Who the request runs for: set by the identify step, or inherited by a module route's sub-request. */
    Identity identity;

    /**
     * The address the caller is counted by (a trusted proxy's client, an IPv6 {@code /64}), set by the identify
     * step; {@code null} on a sub-request, whose remote address is its client request's.
     */
    String clientAddress;

    /** The address the caller is counted by: {@link #clientAddress}, else the connection's peer; {@code null} unknown. */
    String callerAddress() {
        return clientAddress != null ? clientAddress : request.remoteAddress().orElse(null);
    }

    String model;
    /** The named upstream a pass-through or simple request was routed to; {@code null}: the default upstream. */
    RouteUpstream.Target target;

    ApiKey key;
    /** Whether the upstream call carries the client's own key: a 401 is then about that key. */
    boolean clientKey;

    // Rate limits and budgets (see LimitStep).
    /** The policy the authorize step applied; {@code null} before it (or on routes without it). */
    io.github.openaiproxy.core.access.Policy policy;
    /** Whether an upstream call was sent (set just before it): the limit step settles, or refunds when not. */
    volatile boolean upstreamCalled;
    /** The status of the upstream answer relayed to the client; {@code 0} when none. */
    volatile int upstreamStatus;
    /** Whether a call timed out waiting for the answer to a request the upstream had (it bills the prompt). */
    volatile boolean unansweredRequestSent;
    /**
     * The calls of a named upstream that timed out with the request sent and were followed by a retry or a
     * fallback, in order (each bills the prompt); the last call's is {@link #unansweredRequestSent}. Replaced, never
     * changed: empty but on that rare path.
     */
    volatile java.util.List<UnansweredCall> earlierUnanswered = java.util.List.of();

    RequestContext(
            ProxyRequest request,
            ProxyObserver.Observation observation,
            boolean wantsDetails,
            boolean subRequest,
            RequestInFlight inFlight,
            Identity identity) {
        this.request = request;
        this.identity = identity;
        this.observation = observation;
        this.wantsDetails = wantsDetails;
        this.subRequest = subRequest;
        this.inFlight = inFlight;
    }

    /**
     * Lets go of the parsed bodies once the upstream's bytes are built, just before the call: a tree costs many
     * times its body's bytes (a body of empty objects about 36 times), and a call may run for minutes. What the
     * steps after need (the path, whether it streams, the model, the bytes) stays.
     */
    void dropTrees() {
        clientBody = null;
        if (normalized != null && normalized.body() != null) {
            normalized =
                    new Normalized.Accepted(normalized.upstreamPath(), null, normalized.stream(), normalized.model());
        }
        if (target != null && target.clientJson() != null) {
            target = new RouteUpstream.Target(
                    target.requests(),
                    target.pool(),
                    target.upstreamModel(),
                    target.clientModel(),
                    target.clientBytes(),
                    null,
                    target.mayAskForUsage(),
                    target.modelInPath());
        }
    }

    /** The request as the adapter handed it over. */
    public ProxyRequest request() {
        return request;
    }

    /** The route's template, for example {@code /v1/chat/completions}, or {@code unmatched}. */
    public String route() {
        return route == null ? UNMATCHED : route.template();
    }

    /**
     * The model the request names, when known: on the simple routes once the body is normalized (so at
     * {@link RequestStep.Position#BEFORE_UPSTREAM}); on the pass-through routes, whose body is relayed
     * unread, only for an observer that wants details, and not before the upstream call.
     */
    public Optional<String> model() {
        CountedRequestBody s = streamed;
        return model == null && s != null && wantsDetails ? s.model() : Optional.ofNullable(model);
    }

    /** Who the request runs for, once the identify step has resolved it (before the body is read). */
    public Optional<Identity> identity() {
        return Optional.ofNullable(identity);
    }

    /** Whether the request carries its own key (known once the key is resolved). */
    public boolean usesClientKey() {
        return clientKey;
    }

    /**
     * The {@code x-request-id} the proxy gives its own answer to this request (an error, or an answer of its own
     * routes), made when first asked: a log line about the request names it, the answer carries it.
     */
    String requestId() {
        String id = requestId;
        if (id == null) {
            id = RequestIds.next();
            requestId = id;
        }
        return id;
    }

    /** {@link #requestId()} for a log line about the request's failure. */
    String loggedRequestId() {
        requestIdLogged = true;
        return requestId();
    }

    /** Whether a module route (GraphQL) runs this request on behalf of a client request. */
    public boolean isSubRequest() {
        return subRequest;
    }

    /**
     * The proxy's answer for an error, in the route's error shape and with the request's CORS headers
     * (once judged): what a step returns to refuse a request.
     */
    public CompletableFuture<ProxyResponse> respond(ProxyError error) {
        return CompletableFuture.completedFuture(responses().error(error));
    }

    /**
     * Refuses the request for who it is (the identify and authorize steps): the observer counts the refusal,
     * then the answer is {@link #respond}'s.
     *
     * @param reason why, from a small fixed set (a metric tag): never a key, a user name or an address
     * @param policy the policy that refused, or {@link ProxyObserver.Observation#NO_POLICY}
     */
    CompletableFuture<ProxyResponse> refuse(ProxyError error, String reason, String policy) {
        observation.refused(reason, policy);
        return respond(error);
    }

    /** Starts the pipeline on {@code chain} (called once, after the route lookup). */
    CompletableFuture<ProxyResponse> start(RequestStep[] chain) {
        return new PipelineCursor(this, chain).proceed(this);
    }

    /** Once the answer is known: from now on the request is passed on no further (see {@link #answered}). */
    void finish() {
        answered = true;
    }

    /** Whether the request's answer is known: see {@link #answered}. */
    boolean answered() {
        return answered;
    }

    ResponseFactory responses() {
        ResponseFactory r = responses;
        return r != null ? r : new ResponseFactory(style, Map.of());
    }

    static <T> CompletableFuture<T> done(T value) {
        return CompletableFuture.completedFuture(value);
    }
}
