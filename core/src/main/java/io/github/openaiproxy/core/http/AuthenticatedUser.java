package io.github.openaiproxy.core.http;

import java.util.Objects;
import java.util.function.Predicate;

/**
 * A user the host application authenticated (its login, a servlet container realm, Spring Security), as an
 * adapter hands it over with the request. The roles are asked, not listed, because that is what the servlet
 * API offers ({@code isUserInRole}).
 *
 * @param name the user's name as the host knows it
 * @param roles whether the user has a role
 */
public record AuthenticatedUser(String name, Predicate<String> roles) {
    public AuthenticatedUser {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(roles, "roles");
    }

    /** Whether the user has this role. */
    public boolean hasRole(String role) {
        return roles.test(role);
    }

    @Override
    public String toString() {
        return "AuthenticatedUser[" + name + "]";
    }
}
