package io.github.openaiproxy.core.admin;

import io.github.openaiproxy.core.access.AccessConfig;
import io.github.openaiproxy.core.error.ProxyError;
import io.github.openaiproxy.core.http.AuthenticatedUser;
import io.github.openaiproxy.core.http.ProxyRequest;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * Who may use the admin API: a caller with one of the admin tokens ({@code admin.tokens} holds their SHA-256,
 * compared in constant time) as {@code Authorization: Bearer <token>}, or a user of the host application with
 * the role {@code admin.role}. A bearer token that is not an admin token is 401, whoever is logged in; a user
 * without the role is 403; no credential at all is 401.
 */
final class AdminAuth {
    /** Tokens longer than this are no admin token: refused before hashing. */
    private static final int MAX_TOKEN = 4096;

    private final byte[][] hashes;
    private final List<String> hashesHex;
    private final String role;

    AdminAuth(AccessConfig.Admin admin) {
        this.hashesHex = admin.tokenHashes();
        this.hashes = new byte[hashesHex.size()][];
        for (int i = 0; i < hashes.length; i++) {
            hashes[i] = HexFormat.of().parseHex(hashesHex.get(i));
        }
        this.role = admin.role();
    }

    /** The actor's name for the audit log, or the error to answer. */
    sealed interface Outcome {
        /** An admin: {@code token:<first 8 hex of the token's hash>} or {@code user:<name>}. */
        record Allowed(String actor) implements Outcome {}

        /** Refused. */
        record Refused(ProxyError error) implements Outcome {}
    }

    Outcome check(ProxyRequest request) {
        Optional<String> authorization = request.header("Authorization");
        if (authorization.isPresent() && isBearer(authorization.get())) {
            String token = authorization.get().substring("bearer".length()).strip();
            int match = matchingToken(token);
            return match < 0
                    ? new Outcome.Refused(unauthorized())
                    : new Outcome.Allowed("token:" + hashesHex.get(match).substring(0, 8));
        }
        Optional<AuthenticatedUser> user = request.user();
        if (user.isPresent()) {
            if (isCrossOrigin(request)) {
                return new Outcome.Refused(crossOrigin());
            }
            if (role != null && user.get().hasRole(role)) {
                String name = user.get().name();
                return new Outcome.Allowed("user:" + (name.length() > 100 ? name.substring(0, 100) : name));
            }
            return new Outcome.Refused(forbidden());
        }
        return new Outcome.Refused(unauthorized());
    }

    /**
     * Whether a browser sent this request from another origin. A user's login (a session cookie, HTTP basic)
     * goes with every request the browser makes, including a form another site posts here (which needs no
     * preflight, and which {@code cors.allowed-origins=*} lets through), so the admin role counts only for
     * requests from the proxy's own origin. Admin tokens are never sent by the browser on its own.
     */
    private static boolean isCrossOrigin(ProxyRequest request) {
        Optional<String> origin = request.header("Origin");
        if (origin.isEmpty() || origin.get().isBlank()) {
            return false;
        }
        Optional<String> own = request.requestOrigin();
        return own.isEmpty() || !origin.get().strip().equalsIgnoreCase(own.get());
    }

    private static boolean isBearer(String header) {
        return header.length() > 6
                && header.substring(0, 7).toLowerCase(Locale.ROOT).startsWith("bearer ");
    }

    /** The index of the admin token whose hash this token has, or -1; looks at every hash whatever matches. */
    private int matchingToken(String token) {
        if (token.isEmpty() || token.length() > MAX_TOKEN || hashes.length == 0) {
            return -1;
        }
        byte[] digest = sha256(token);
        int match = -1;
        for (int i = 0; i < hashes.length; i++) {
            // MessageDigest.isEqual takes the same time wherever the arrays differ.
            if (MessageDigest.isEqual(digest, hashes[i]) && match < 0) {
                match = i;
            }
        }
        return match;
    }

    private static byte[] sha256(String token) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(token.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform has SHA-256", e);
        }
    }

    /** 401 in OpenAI's shape ({@code invalid_api_key}), the same for a wrong token and for none. */
    static ProxyError unauthorized() {
        return new ProxyError(
                401,
                "Unauthorized",
                "The admin API needs an admin token (Authorization: Bearer <token>) or a user with the admin role",
                "invalid_request_error",
                "invalid_api_key",
                null,
                null,
                Map.of("WWW-Authenticate", "Bearer realm=\"openai-proxy-admin\""));
    }

    /** 403 for a user of the host application calling from another origin. */
    static ProxyError crossOrigin() {
        return new ProxyError(
                403,
                "Forbidden",
                "The admin role is accepted from the proxy's own origin only",
                "invalid_request_error",
                "admin_cross_origin",
                null,
                null,
                Map.of());
    }

    /** 403 for a user of the host application without the admin role. */
    static ProxyError forbidden() {
        return new ProxyError(
                403,
                "Forbidden",
                "This user does not have the admin role",
                "invalid_request_error",
                "admin_role_required",
                null,
                null,
                Map.of());
    }
}
