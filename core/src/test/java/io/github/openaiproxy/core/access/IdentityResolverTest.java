package io.github.openaiproxy.core.access;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Clock;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The start-up line says which sources are on and what anonymous callers may do, and names no secret. */
class IdentityResolverTest {
    @Test
    void theDefaultsSayAnonymousCallersAreAllowed() {
        String line = resolver(AccessConfig.DEFAULTS, null).description();

        assertThat(line)
                .contains("proxy keys none")
                .contains("JWT off")
                .contains("anonymous callers allowed under policy 'anonymous'")
                .contains("trusted proxies: none");
    }

    @Test
    void everySourceOnAndAnonymousDenied() {
        ProxyKeys.NewKey k = ProxyKeys.generate();
        AccessConfig access = new AccessConfig(
                AccessConfig.Anonymous.DENY,
                List.of("10.0.0.0/8"),
                new AccessConfig.Jwt("https://login.example.com", "chat", "https://login.example.com/jwks"),
                Map.of(),
                Map.of(),
                List.of(new ProxyKey(
                        "ci", k.displayPrefix(), k.hash(), "ci", null, "keys", Instant.EPOCH, null, null, null)),
                AccessConfig.Admin.OFF);

        String line = resolver(access, new InMemoryProxyKeyStore()).description();

        assertThat(line)
                .contains("proxy keys on (1 declared, store InMemoryProxyKeyStore)")
                .contains("JWT on (issuer https://login.example.com)")
                .contains("anonymous callers refused (401)")
                .contains("trusted proxies: 10.0.0.0/8")
                .doesNotContain(k.secret())
                .doesNotContain(k.hash());
    }

    private static IdentityResolver resolver(AccessConfig access, ProxyKeyStore store) {
        return new IdentityResolver(
                access, store, Runnable::run, Runnable::run, Clock.systemUTC(), java.util.List.of(), false);
    }
}
