package io.github.openaiproxy.core.access;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.KeySourceException;
import com.nimbusds.jose.jwk.JWKSet;
import com.nimbusds.jose.jwk.source.JWKSetCacheRefreshEvaluator;
import com.nimbusds.jose.jwk.source.JWKSetSource;
import com.nimbusds.jose.jwk.source.JWKSource;
import com.nimbusds.jose.jwk.source.JWKSourceBuilder;
import com.nimbusds.jose.jwk.source.RateLimitReachedException;
import com.nimbusds.jose.jwk.source.URLBasedJWKSetSource;
import com.nimbusds.jose.proc.BadJOSEException;
import com.nimbusds.jose.proc.JWSVerificationKeySelector;
import com.nimbusds.jose.proc.SecurityContext;
import com.nimbusds.jose.util.DefaultResourceRetriever;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.proc.BadJWTException;
import com.nimbusds.jwt.proc.DefaultJWTClaimsVerifier;
import com.nimbusds.jwt.proc.DefaultJWTProcessor;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.internal.LoggableText;
import java.net.MalformedURLException;
import java.net.URI;
import java.net.URL;
import java.text.ParseException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;

/**
 * Bearer JWTs of the configured OpenID Connect issuer ({@code access.jwt.*}): signed with RS256 or ES256 by a
 * key of the issuer's JWKS, {@code iss} equal to the issuer, {@code aud} including the audience, {@code sub}
 * present and not blank, {@code exp} in the future, {@code nbf} and {@code iat} (when present) in the past (with
 * {@link #CLOCK_SKEW_SECONDS} of tolerance). The subject is {@code iss#sub}, under {@link Policy#USERS}.
 *
 * <p>The JWKS is fetched and cached by nimbus-jose-jwt's remote source: a token signed by a key id the cache
 * does not know makes it fetch the set again (rate-limited), so the issuer's key rotation is followed. The
 * check runs on the given executor because a fetch blocks; a token that passed is remembered for up to
 * {@link #VERIFIED_TTL} (never past its {@code exp}), so a client's next calls skip the executor and the
 * signature check. A JWKS that cannot be fetched fails the request
 * (503), rather than refusing valid tokens as if they were forged; so do the requests the rate limit does not
 * let fetch it again while its last fetch failed.
 */
final class JwtSource implements IdentitySource {
    static final int CLOCK_SKEW_SECONDS = 30;
    private static final int HTTP_TIMEOUT_MILLIS = 5_000;
    private static final int JWKS_SIZE_LIMIT = 256 * 1024;
    private static final int MAX_TOKEN_LENGTH = 16 * 1024;

    /** How long a verified token is remembered (never past its {@code exp}): its signature is checked once. */
    static final Duration VERIFIED_TTL = Duration.ofSeconds(60);

    private static final int VERIFIED_CACHE_SIZE = 4096;

    static final Resolution INVALID = Resolution.rejected("invalid_token");

    private final String issuer;
    private final DefaultJWTProcessor<SecurityContext> processor;
    private final Executor executor;
    private final Clock clock;
    private final Cache<String, Verified> verified;

    /**
     * Whether the JWKS's last fetch failed (down, an error status, too large, not a key set). The fetches are
     * rate-limited, so while it is down most requests are not even let try: they must get the outage's 503 too,
     * not the 401 of a token signed by a key the issuer does not have.
     */
    private volatile boolean lastFetchFailed;

    JwtSource(AccessConfig.Jwt jwt, Executor executor, Clock clock) {
        this.issuer = jwt.issuer();
        this.executor = executor;
        this.clock = clock;
        this.verified = Caffeine.newBuilder()
                .maximumSize(VERIFIED_CACHE_SIZE)
                .expireAfterWrite(VERIFIED_TTL)
                .ticker(ProxyKeySource.ticker(clock))
                .executor(Runnable::run)
                .build();
        URL url = url(jwt.jwksUrl());
        URLBasedJWKSetSource<SecurityContext> fetch = new URLBasedJWKSetSource<>(
                url, new DefaultResourceRetriever(HTTP_TIMEOUT_MILLIS, HTTP_TIMEOUT_MILLIS, JWKS_SIZE_LIMIT));
        JWKSetSource<SecurityContext> watched = new JWKSetSource<>() {
            @Override
            public JWKSet getJWKSet(JWKSetCacheRefreshEvaluator refresh, long now, SecurityContext context)
                    throws KeySourceException {
                try {
                    JWKSet set = fetch.getJWKSet(refresh, now, context);
                    lastFetchFailed = false;
                    return set;
                } catch (KeySourceException | RuntimeException e) {
                    lastFetchFailed = true;
                    throw e;
                }
            }

            @Override
            public void close() throws java.io.IOException {
                fetch.close();
            }
        };
        JWKSource<SecurityContext> keys = JWKSourceBuilder.create(watched)
                .retrying(false)
                .refreshAheadCache(false)
                .build();
        this.processor = new DefaultJWTProcessor<>();
        processor.setJWSTypeVerifier(JwtSource::checkType);
        processor.setJWSKeySelector(
                new JWSVerificationKeySelector<>(Set.of(JWSAlgorithm.RS256, JWSAlgorithm.ES256), keys));
        DefaultJWTClaimsVerifier<SecurityContext> claims =
                new DefaultJWTClaimsVerifier<>(
                        new java.util.HashSet<>(java.util.List.of(jwt.audience())),
                        new JWTClaimsSet.Builder().issuer(jwt.issuer()).build(),
                        new java.util.HashSet<>(java.util.List.of("sub", "exp")),
                        new java.util.HashSet<>()) { // nimbus asks these sets about null: no Set.of
                    @Override
                    protected Date currentTime() {
                        return Date.from(clock.instant());
                    }

                    @Override
                    public void verify(JWTClaimsSet claimsSet, SecurityContext context) throws BadJWTException {
                        super.verify(claimsSet, context);
                        // nimbus checks exp and nbf, not iat: a token issued in the future (past the skew) is a
                        // forged or broken issuer's, whatever its nbf says.
                        Date iat = claimsSet.getIssueTime();
                        if (iat != null
                                && iat.toInstant().isAfter(clock.instant().plusSeconds(CLOCK_SKEW_SECONDS))) {
                            throw new BadJWTException("JWT issued in the future");
                        }
                    }
                };
        claims.setMaxClockSkew(CLOCK_SKEW_SECONDS);
        processor.setJWTClaimsSetVerifier(claims);
    }

    /**
     * A token's {@code typ}: none, {@code JWT}, or an OAuth access token's {@code at+jwt} (RFC 9068, as Duende
     * IdentityServer and ForgeRock issue them), with or without {@code application/}, in any case. Other types
     * are other tokens (a logout or security event token) and are refused.
     */
    private static void checkType(com.nimbusds.jose.JOSEObjectType type, SecurityContext context)
            throws com.nimbusds.jose.proc.BadJOSEException {
        if (type == null) {
            return;
        }
        String t = type.getType().toLowerCase(java.util.Locale.ROOT);
        if (t.startsWith("application/")) {
            t = t.substring("application/".length());
        }
        if (!t.equals("jwt") && !t.equals("at+jwt")) {
            throw new com.nimbusds.jose.proc.BadJOSEException("not an access token: typ " + t);
        }
    }

    /** The JWKS URL, checked at start so a typo fails then and not on the first request. */
    static URL url(String jwksUrl) {
        try {
            URI uri = URI.create(jwksUrl);
            if (!"https".equalsIgnoreCase(uri.getScheme()) && !"http".equalsIgnoreCase(uri.getScheme())) {
                throw new IllegalArgumentException("the JWKS URL must be http(s): " + jwksUrl);
            }
            return uri.toURL();
        } catch (MalformedURLException | IllegalArgumentException e) {
            throw new IllegalArgumentException("not a JWKS URL: " + jwksUrl, e);
        }
    }

    String issuer() {
        return issuer;
    }

    @Override
    public CompletableFuture<Resolution> resolve(ProxyRequest request) {
        String token = Bearer.token(request);
        return token != null && Bearer.isJwtShaped(token) ? resolve(token) : Bearer.ABSENT_NOW;
    }

    /** Judges a JWT-shaped token, on the executor. */
    CompletableFuture<Resolution> resolve(String token) {
        if (token.length() > MAX_TOKEN_LENGTH) {
            return CompletableFuture.completedFuture(INVALID);
        }
        Verified known = verified.getIfPresent(token);
        if (known != null && clock.instant().isBefore(known.expires())) {
            return CompletableFuture.completedFuture(known.resolution()); // no executor hop, no RSA
        }
        CompletableFuture<Resolution> f = new CompletableFuture<>();
        try {
            executor.execute(() -> {
                try {
                    f.complete(verify(token));
                } catch (Throwable t) {
                    f.completeExceptionally(t);
                }
            });
        } catch (RejectedExecutionException e) {
            f.completeExceptionally(e);
        }
        return f;
    }

    /** A token that passed every check, and when it stops being valid. */
    private record Verified(Resolution resolution, Instant expires) {}

    private Resolution verify(String token) {
        try {
            JWTClaimsSet claims = processor.process(token, null);
            if (claims.getSubject().isBlank()) {
                // Present but naming no one: every such token would be the one caller iss#.
                AccessLog.LOG.log(System.Logger.Level.DEBUG, "JWT refused: blank sub");
                return INVALID;
            }
            Resolution r =
                    Resolution.identified(Identity.token(claims.getIssuer() + "#" + claims.getSubject(), Policy.USERS));
            verified.put(token, new Verified(r, claims.getExpirationTime().toInstant()));
            return r;
        } catch (RateLimitReachedException e) {
            if (lastFetchFailed) {
                // No key set to judge by and no fetch allowed yet: the outage, not the token.
                throw new CompletionException(e);
            }
            // An unknown key id and the JWKS was fetched moments ago: a forged kid, not an outage.
            AccessLog.LOG.log(System.Logger.Level.DEBUG, "JWT refused: unknown key id (JWKS refresh rate-limited)");
            return INVALID;
        } catch (KeySourceException e) {
            // The JWKS could not be fetched: not the token's fault.
            throw new CompletionException(e);
        } catch (ParseException | BadJOSEException | JOSEException e) {
            // The library's message may quote the token's header, which the client wrote.
            AccessLog.LOG.log(System.Logger.Level.DEBUG, "JWT refused: {0}", LoggableText.of(e.getMessage()));
            return INVALID;
        } catch (RuntimeException e) {
            // A token crafted to break the parser: still only a refused token.
            AccessLog.LOG.log(System.Logger.Level.DEBUG, "JWT refused: {0}", LoggableText.of(e.toString()));
            return INVALID;
        }
    }
}
