package io.github.openaiproxy.core.access;

import io.github.openaiproxy.core.http.AuthenticatedUser;
import io.github.openaiproxy.core.http.ProxyRequest;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * The host application's authenticated user, as the adapter hands it over ({@link ProxyRequest#user()}). Its
 * policy is that of the first role in {@code access.role-policies} the user has, else {@link Policy#USERS}.
 *
 * <p>A login the browser sends by itself (a session cookie, cached HTTP basic) goes with a request another site
 * makes too: a {@code no-cors} POST needs no preflight, so a page could spend as the logged-in user without
 * ever reading the answer. Unless {@code cors.allow-credentials} lets other origins use the login, a request
 * the browser marks as made by another origin ({@code Sec-Fetch-Site: cross-site} or {@code same-site}) is
 * therefore not taken as the user's, except with {@code Authorization: Bearer}, which a page sets itself. The
 * browser's own header decides, not the request's host, which a load balancer may rewrite.
 */
final class HostUserSource implements IdentitySource {
    private final Map<String, String> rolePolicies;
    private final boolean loginsFromOtherOrigins;

    /**
     * @param loginsFromOtherOrigins whether other origins may use the login ({@code cors.allow-credentials})
     */
    HostUserSource(Map<String, String> rolePolicies, boolean loginsFromOtherOrigins) {
        this.rolePolicies = rolePolicies;
        this.loginsFromOtherOrigins = loginsFromOtherOrigins;
    }

    @Override
    public CompletableFuture<Resolution> resolve(ProxyRequest request) {
        AuthenticatedUser user = request.user().orElse(null);
        if (user == null || (!loginsFromOtherOrigins && fromAnotherOrigin(request) && !Bearer.sent(request))) {
            return Bearer.ABSENT_NOW;
        }
        return CompletableFuture.completedFuture(Resolution.identified(Identity.user(user.name(), policyOf(user))));
    }

    /** Whether the browser says another origin made this request (absent for other clients and old browsers). */
    static boolean fromAnotherOrigin(ProxyRequest request) {
        String site = request.header("Sec-Fetch-Site").orElse("");
        return site.equalsIgnoreCase("cross-site") || site.equalsIgnoreCase("same-site");
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
