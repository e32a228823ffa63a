package io.github.openaiproxy.core.access;

import io.github.openaiproxy.core.http.AuthenticatedUser;
import io.github.openaiproxy.core.http.ProxyRequest;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * The host application's authenticated user, as the adapter hands it over ({@link ProxyRequest#user()}). Its
 * policy is that of the first role in {@code access.role-policies} the user has, else {@link Policy#USERS}.
 */
final class HostUserSource implements IdentitySource {
    private final Map<String, String> rolePolicies;

    HostUserSource(Map<String, String> rolePolicies) {
        this.rolePolicies = rolePolicies;
    }

    @Override
    public CompletableFuture<Resolution> resolve(ProxyRequest request) {
        AuthenticatedUser user = request.user().orElse(null);
        if (user == null) {
            return Bearer.ABSENT_NOW;
        }
        return CompletableFuture.completedFuture(Resolution.identified(Identity.user(user.name(), policyOf(user))));
    }

    private String policyOf(AuthenticatedUser user) {
        for (Map.Entry<String, String> e : rolePolicies.entrySet()) {
            if (user.hasRole(e.getKey())) {
                return e.getValue();
            }
        }
        return Policy.USERS;
    }
}
