package io.github.openaiproxy.core.access;

import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.internal.HeaderMap;
import java.util.concurrent.CompletableFuture;

/**
 * The token of an {@code Authorization: Bearer} header. Which tokens are a credential of ours is decided by
 * their shape: a proxy key starts with {@link ProxyKeys#PREFIX}, a JWT has three dot-separated base64url
 * parts. Any other bearer token is not ours and is ignored: the SDKs insist on sending some key, and
 * applications put a placeholder there.
 */
final class Bearer {
    private static final String SCHEME = "Bearer ";

    /**
     * {@link Resolution#ABSENT}, already answered: shared by this package's sources so the usual request (no
     * credential of a source's kind) allocates no future. Only ever read with {@code join()}.
     */
    static final CompletableFuture<Resolution> ABSENT_NOW = CompletableFuture.completedFuture(Resolution.ABSENT);

    private Bearer() {}

    /** Whether the first {@code Authorization} header names the Bearer scheme (its token may be empty). */
    static boolean sent(ProxyRequest request) {
        return hasScheme(HeaderMap.first(request.headers(), "Authorization"));
    }

    /** The bearer token of the first {@code Authorization} header, or {@code null}. */
    static String token(ProxyRequest request) {
        String h = HeaderMap.first(request.headers(), "Authorization");
        if (!hasScheme(h) || h.length() <= SCHEME.length()) {
            return null;
        }
        String t = h.substring(SCHEME.length()).strip();
        return t.isEmpty() ? null : t;
    }

    private static boolean hasScheme(String header) {
        return header != null && header.regionMatches(true, 0, SCHEME, 0, SCHEME.length());
    }

    /** Whether a token has a JWT's compact shape: three base64url parts (the last may be empty). */
    static boolean isJwtShaped(String token) {
        int dots = 0;
        int partLength = 0;
        for (int i = 0; i < token.length(); i++) {
            char c = token.charAt(i);
            if (c == '.') {
                if (partLength == 0 || ++dots > 2) {
                    return false;
                }
                partLength = 0;
            } else if ((c >= 'a' && c <= 'z')
                    || (c >= 'A' && c <= 'Z')
                    || (c >= '0' && c <= '9')
                    || c == '-'
                    || c == '_') {
                partLength++;
            } else {
                return false;
            }
        }
        return dots == 2;
    }
}
