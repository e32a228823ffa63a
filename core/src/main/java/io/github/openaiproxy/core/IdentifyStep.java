package io.github.openaiproxy.core;

import io.github.openaiproxy.core.access.IdentityResolver;
import io.github.openaiproxy.core.access.Resolution;
import io.github.openaiproxy.core.error.ProxyError;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.observe.ProxyObserver;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.RejectedExecutionException;

/**
 * Resolves who calls (see {@link IdentityResolver}): a proxy key, the host application's user, a JWT, or an
 * anonymous address; before the body is read. A credential that fails, or no credential when anonymous
 * callers are refused, gets 401 with one fixed message ({@link ProxyError#unauthorized()}); the reason goes to
 * the log at DEBUG only. A sub-request keeps its client request's identity.
 */
final class IdentifyStep implements RequestStep {
    private static final System.Logger LOG = System.getLogger(IdentifyStep.class.getName());

    private final IdentityResolver resolver;

    IdentifyStep(IdentityResolver resolver) {
        this.resolver = resolver;
    }

    @Override
    public CompletableFuture<ProxyResponse> handle(RequestContext ctx, Chain next) {
        if (ctx.identity != null) {
            return next.proceed(ctx); // a sub-request: its client request's identity
        }
        ctx.clientAddress = resolver.clientOf(ctx.request);
        CompletableFuture<Resolution> r = PerClientChecks.run(ctx.clientAddress, () -> resolver.resolve(ctx.request));
        if (r.isDone() && !r.isCompletedExceptionally()) {
            return decide(ctx, next, r.join());
        }
        return r.handle((resolution, error) -> error == null ? decide(ctx, next, resolution) : unavailable(ctx, error))
                .thenCompose(f -> f);
    }

    private static CompletableFuture<ProxyResponse> decide(RequestContext ctx, Chain next, Resolution resolution) {
        if (resolution instanceof Resolution.Identified identified) {
            ctx.identity = identified.identity();
            return next.proceed(ctx);
        }
        String reason = resolution instanceof Resolution.Rejected rejected ? rejected.reason() : "absent";
        LOG.log(System.Logger.Level.DEBUG, "request refused with 401: {0}", reason);
        // The reasons are the sources' fixed words (no_credential, unknown_key, ...): fit for a metric tag.
        return ctx.refuse(ProxyError.unauthorized(), reason, ProxyObserver.Observation.NO_POLICY);
    }

    private static CompletableFuture<ProxyResponse> unavailable(RequestContext ctx, Throwable error) {
        Throwable cause = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
        if (cause instanceof PerClientChecks.ClientBusyException) {
            return ctx.respond(ProxyError.tooManyConcurrentCalls());
        }
        if (cause instanceof RejectedExecutionException) {
            return ctx.respond(ProxyError.overloaded());
        }
        LOG.log(System.Logger.Level.WARNING, "a credential could not be checked: {0}", cause.toString());
        return ctx.respond(ProxyError.credentialCheckUnavailable());
    }
}
