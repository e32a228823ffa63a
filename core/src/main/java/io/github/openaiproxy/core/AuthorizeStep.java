package io.github.openaiproxy.core;

import io.github.openaiproxy.core.access.AccessConfig;
import io.github.openaiproxy.core.http.ProxyResponse;
import java.util.concurrent.CompletableFuture;

/** Applies the identity's {@link io.github.openaiproxy.core.access.Policy}: routes, models and caps. */
final class AuthorizeStep implements RequestStep {
    private final AccessConfig access;

    AuthorizeStep(AccessConfig access) {
        this.access = access;
    }

    @Override
    public CompletableFuture<ProxyResponse> handle(RequestContext ctx, Chain next) {
        // Placeholder until the policy rules land: every policy allows everything.
        return next.proceed(ctx);
    }
}
