package io.github.openaiproxy.core;

import io.github.openaiproxy.core.access.AccessConfig;
import io.github.openaiproxy.core.access.Identity;
import io.github.openaiproxy.core.access.Policy;
import io.github.openaiproxy.core.http.ProxyResponse;
import java.util.concurrent.CompletableFuture;

/**
 * Resolves who calls (see {@link io.github.openaiproxy.core.access.IdentitySource}): a proxy key, the host
 * application's user, a JWT, or an anonymous address. A sub-request keeps its client request's identity.
 */
final class IdentifyStep implements RequestStep {
    private final AccessConfig access;

    IdentifyStep(AccessConfig access) {
        this.access = access;
    }

    @Override
    public CompletableFuture<ProxyResponse> handle(RequestContext ctx, Chain next) {
        if (ctx.identity == null) {
            // Placeholder until the identity sources land: the host's user, else anonymous.
            ctx.identity = ctx.request
                    .user()
                    .map(u -> Identity.user(u.name(), Policy.USERS))
                    .orElseGet(
                            () -> Identity.anonymous(ctx.request.remoteAddress().orElse(null), Policy.ANONYMOUS));
        }
        return next.proceed(ctx);
    }
}
