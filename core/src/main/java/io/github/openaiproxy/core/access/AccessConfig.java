package io.github.openaiproxy.core.access;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Who may call, as configured ({@code access.*}, {@code policies.*}, {@code admin.*}). The defaults are the
 * seed's behaviour: anonymous callers allowed, no trusted proxies, no JWT issuer, no admin API.
 *
 * @param anonymous what callers without a credential may do
 * @param trustedProxies the addresses (CIDR or single) whose {@code X-Forwarded-For} / {@code Forwarded} is believed
 * @param jwt the OpenID Connect issuer whose bearer JWTs identify users, or {@code null}
 * @param rolePolicies the host application's roles mapped to policies, in order: a user gets the first
 *     policy whose role it has, otherwise {@link Policy#USERS}
 * @param policies the configured policies by name (the three defaults always present)
 * @param declaredKeys proxy keys declared in configuration as hashes
 * @param admin the admin API
 * @param forwardedHeader the one forwarding header the trusted proxies write ({@code access.forwarded-header})
 */
public record AccessConfig(
        Anonymous anonymous,
        List<String> trustedProxies,
        Jwt jwt,
        Map<String, String> rolePolicies,
        Map<String, Policy> policies,
        List<ProxyKey> declaredKeys,
        Admin admin,
        ForwardedHeader forwardedHeader) {
    /** The seed's behaviour: anyone may call, under the unrestricted default policies. */
    public static final AccessConfig DEFAULTS =
            new AccessConfig(Anonymous.ALLOW, List.of(), null, Map.of(), Map.of(), List.of(), Admin.OFF);

    /** The configuration without a choice of forwarding header: {@link ForwardedHeader#X_FORWARDED_FOR}. */
    public AccessConfig(
            Anonymous anonymous,
            List<String> trustedProxies,
            Jwt jwt,
            Map<String, String> rolePolicies,
            Map<String, Policy> policies,
            List<ProxyKey> declaredKeys,
            Admin admin) {
        this(
                anonymous,
                trustedProxies,
                jwt,
                rolePolicies,
                policies,
                declaredKeys,
                admin,
                ForwardedHeader.X_FORWARDED_FOR);
    }

    /**
     * The header a trusted proxy writes the client's address in. Only that one is read: a proxy passes on the
     * other as the client sent it, so a client behind a proxy that appends to {@code X-Forwarded-For} could
     * otherwise name any address in {@code Forwarded}, and get a fresh anonymous rate limit with each.
     */
    public enum ForwardedHeader {
        /** {@code X-Forwarded-For} (nginx, HAProxy, AWS and Google load balancers, most ingress controllers). */
        X_FORWARDED_FOR,
        /** {@code Forwarded} (RFC 7239), its {@code for=} parameters. */
        FORWARDED
    }

    /** What a caller without a credential may do. */
    public enum Anonymous {
        /** Call, under the {@link Policy#ANONYMOUS} policy. */
        ALLOW,
        /** Nothing: 401. */
        DENY
    }

    /**
     * A JWT issuer.
     *
     * @param issuer the {@code iss} every token must carry
     * @param audience the {@code aud} every token must include
     * @param jwksUrl where the issuer's signing keys are published
     */
    public record Jwt(String issuer, String audience, String jwksUrl) {
        public Jwt {
            Objects.requireNonNull(issuer, "issuer");
            Objects.requireNonNull(audience, "audience");
            Objects.requireNonNull(jwksUrl, "jwksUrl");
            JwtSource.url(jwksUrl);
        }
    }

    /**
     * The admin API.
     *
     * @param enabled whether it is served
     * @param path where, under the proxy's mount path
     * @param tokenHashes SHA-256 hashes (hex) of the admin tokens
     * @param role the host application's role that may use it, or {@code null}
     */
    public record Admin(boolean enabled, String path, List<String> tokenHashes, String role) {
        /** Not served. */
        public static final Admin OFF = new Admin(false, "/admin", List.of(), null);

        public Admin {
            Objects.requireNonNull(path, "path");
            if (!path.matches("(/[A-Za-z0-9._~-]+)+") || path.matches(".*/\\.{1,2}(/.*)?")) {
                throw new IllegalArgumentException(
                        "admin.path must be a path such as /admin (segments of letters, digits, '.', '_', '~', '-')");
            }
            List<String> hashes = new java.util.ArrayList<>();
            for (String h : tokenHashes) {
                String hex = h.strip().toLowerCase(java.util.Locale.ROOT);
                if (!hex.matches("[0-9a-f]{64}")) {
                    // Never the value: someone may have put a token here instead of its hash.
                    throw new IllegalArgumentException("admin.tokens must hold SHA-256 hashes (64 hex digits) of"
                            + " the admin tokens, not the tokens; see 'keys hash'");
                }
                hashes.add(hex);
            }
            tokenHashes = List.copyOf(hashes);
            if (role != null && role.isBlank()) {
                role = null;
            }
        }

        /** The same admin API, on or off. */
        public Admin withEnabled(boolean on) {
            return new Admin(on, path, tokenHashes, role);
        }

        /** The same admin API at another path. */
        public Admin withPath(String newPath) {
            return new Admin(enabled, newPath, tokenHashes, role);
        }

        /** The same admin API with these token hashes. */
        public Admin withTokenHashes(List<String> hashes) {
            return new Admin(enabled, path, hashes, role);
        }

        /** The same admin API for users with this role ({@code null}: none). */
        public Admin withRole(String newRole) {
            return new Admin(enabled, path, tokenHashes, newRole);
        }

        @Override
        public String toString() {
            return "Admin[enabled=" + enabled + ", path=" + path + ", tokens=" + tokenHashes.size() + ", role=" + role
                    + "]";
        }
    }

    /** This configuration with other keys declared in configuration ({@code access.keys}). */
    public AccessConfig withDeclaredKeys(List<ProxyKey> keys) {
        return new AccessConfig(anonymous, trustedProxies, jwt, rolePolicies, policies, keys, admin, forwardedHeader);
    }

    /** This configuration with another admin API ({@code admin.*}). */
    public AccessConfig withAdmin(Admin newAdmin) {
        return new AccessConfig(
                anonymous, trustedProxies, jwt, rolePolicies, policies, declaredKeys, newAdmin, forwardedHeader);
    }

    public AccessConfig {
        Objects.requireNonNull(anonymous, "anonymous");
        trustedProxies = List.copyOf(trustedProxies);
        trustedProxies.forEach(ClientAddress.Cidr::parse); // refused at start, naming the entry
        rolePolicies = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(rolePolicies));
        Map<String, Policy> all = new LinkedHashMap<>();
        for (String name : List.of(Policy.KEYS, Policy.USERS, Policy.ANONYMOUS)) {
            all.put(name, Policy.unrestricted(name));
        }
        all.putAll(policies);
        policies = java.util.Collections.unmodifiableMap(all);
        declaredKeys = List.copyOf(declaredKeys);
        Objects.requireNonNull(admin, "admin");
        Objects.requireNonNull(forwardedHeader, "forwardedHeader");
    }

    /** The same with these configured policies (the three defaults are added when missing). */
    public AccessConfig withPolicies(Map<String, Policy> policies) {
        return new AccessConfig(
                anonymous, trustedProxies, jwt, rolePolicies, policies, declaredKeys, admin, forwardedHeader);
    }

    /** The same with these roles mapped to policies, in order. */
    public AccessConfig withRolePolicies(Map<String, String> rolePolicies) {
        return new AccessConfig(
                anonymous, trustedProxies, jwt, rolePolicies, policies, declaredKeys, admin, forwardedHeader);
    }

    // Identity settings (access.anonymous, access.trusted-proxies, access.jwt.*).

    /** The same, with what callers without a credential may do. */
    public AccessConfig withAnonymous(Anonymous value) {
        return new AccessConfig(
                value, trustedProxies, jwt, rolePolicies, policies, declaredKeys, admin, forwardedHeader);
    }

    /** The same, with these trusted proxies (CIDR ranges or single addresses). */
    public AccessConfig withTrustedProxies(List<String> value) {
        return new AccessConfig(anonymous, value, jwt, rolePolicies, policies, declaredKeys, admin, forwardedHeader);
    }

    /** The same, reading the client's address from this header of a trusted proxy. */
    public AccessConfig withForwardedHeader(ForwardedHeader value) {
        return new AccessConfig(anonymous, trustedProxies, jwt, rolePolicies, policies, declaredKeys, admin, value);
    }

    /** The same, with this JWT issuer ({@code null}: none). */
    public AccessConfig withJwt(Jwt value) {
        return new AccessConfig(
                anonymous, trustedProxies, value, rolePolicies, policies, declaredKeys, admin, forwardedHeader);
    }

    /**
     * The host application's roles this configuration asks about: those of {@link #rolePolicies()}, then the
     * admin role. An adapter asks them while the request is still on the container's thread: some security
     * frameworks (Spring Security) answer {@code isUserInRole} only there, and the proxy may ask later, on
     * another thread (after reading the body, for the admin API).
     */
    public List<String> askedRoles() {
        List<String> roles = new java.util.ArrayList<>(rolePolicies.keySet());
        if (admin.role() != null && !roles.contains(admin.role())) {
            roles.add(admin.role());
        }
        return roles;
    }

    /** Whether any credential is checked at all (otherwise every caller is anonymous and allowed). */
    public boolean isDefault() {
        return equals(DEFAULTS);
    }
}
