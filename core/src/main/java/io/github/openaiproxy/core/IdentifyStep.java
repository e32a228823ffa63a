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
        if (ctx.identity == null && ctx.request.user().isPresent()) {
            // Placeholder until the identity sources land: the host's user, under its roles' policy.
            io.github.openaiproxy.core.http.AuthenticatedUser user =
                    ctx.request.user().get();
            String policy = Policy.USERS;
            for (java.util.Map.Entry<String, String> e : access.rolePolicies().entrySet()) {
                if (user.hasRole(e.getKey())) {
                    policy = e.getValue();
                    break;
                }
            }
            ctx.identity = Identity.user(user.name(), policy);
        } else if (ctx.identity == null) {
            // Placeholder until the identity sources land: everyone else is anonymous.
            ctx.identity = Identity.anonymous(ctx.request.remoteAddress().orElse(null), Policy.ANONYMOUS);
        }
        return next.proceed(ctx);
    }
}
