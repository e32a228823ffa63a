package io.github.openaiproxy.core;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.openaiproxy.core.access.AccessConfig;
import io.github.openaiproxy.core.access.AuditEntry;
import io.github.openaiproxy.core.access.AuditLog;
import io.github.openaiproxy.core.access.DeclaredProxyKeys;
import io.github.openaiproxy.core.access.InMemoryPolicyStore;
import io.github.openaiproxy.core.access.InMemoryProxyKeyStore;
import io.github.openaiproxy.core.access.Policy;
import io.github.openaiproxy.core.access.ProxyKey;
import io.github.openaiproxy.core.access.ProxyKeys;
import io.github.openaiproxy.core.cors.CorsConfig;
import io.github.openaiproxy.core.http.AuthenticatedUser;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.testing.Answer;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The admin API as the engine serves it: off by default, admin tokens (hashed in configuration) or a user with
 * the admin role, keys and policies, the audit log, and hostile input that never gets a 5xx.
 */
class ProxyEngineAdminTest {
    static final String TOKEN = "admin-token-0123456789abcdef0123456789";
    static final String OTHER_TOKEN = "second-admin-token-zyxwvutsrqponm";
    static final String DECLARED = ProxyKeys.generate().secret();

    private final InMemoryProxyKeyStore keys = new InMemoryProxyKeyStore();
    private final InMemoryPolicyStore policies = new InMemoryPolicyStore();
    private final AuditLog audit = AuditLog.inMemory();
    private ProxyEngine engine;
    private CorsConfig cors;

    @AfterEach
    void close() {
        if (engine != null) {
            engine.close();
        }
    }

    private ProxyEngine engine(AccessConfig.Admin admin) {
        AccessConfig access = AccessConfig.DEFAULTS
                .withAdmin(admin)
                .withDeclaredKeys(DeclaredProxyKeys.parse(
                        List.of(DeclaredProxyKeys.entry(ProxyKeys.hash(DECLARED), Policy.KEYS, "ci"))));
        ProxyConfig.Builder config =
                EngineFixture.config(URI.create("http://127.0.0.1:9")).access(access);
        if (cors != null) {
            config.cors(cors);
        }
        engine = ProxyEngine.builder(config.build())
                .proxyKeys(keys)
                .policyStore(policies)
                .auditLog(audit)
                .build();
        return engine;
    }

    private ProxyEngine on() {
        return engine(new AccessConfig.Admin(
                true, "/admin", List.of(ProxyKeys.hash(OTHER_TOKEN), ProxyKeys.hash(TOKEN)), "proxy-admin"));
    }

    private Answer call(String method, String path, String body, String... headers) {
        int q = path.indexOf('?');
        ProxyRequest.Builder b = ProxyRequest.builder(method, q < 0 ? path : path.substring(0, q))
                .rawQuery(q < 0 ? null : path.substring(q + 1))
                .remoteAddress("127.0.0.1");
        for (int i = 0; i < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
        }
        if (body != null) {
            b.header("Content-Type", "application/json").body(body.getBytes(StandardCharsets.UTF_8));
        }
        return EngineFixture.send(engine, b);
    }

    private Answer admin(String method, String path, String body) {
        return call(method, path, body, "Authorization", "Bearer " + TOKEN);
    }

    private Answer asUser(String method, String path, Set<String> roles) {
        return EngineFixture.send(
                engine, ProxyRequest.builder(method, path).user(new AuthenticatedUser("alice", roles::contains)));
    }

    @Test
    void offByDefaultTheAdminPathsAreUnknown() {
        engine(AccessConfig.Admin.OFF.withTokenHashes(List.of(ProxyKeys.hash(TOKEN))));
        assertThat(engine.hasRoute("/admin/keys")).isFalse();
        Answer a = admin("GET", "/admin/keys", null);
        assertThat(a.status()).isEqualTo(404);
        assertThat(a.text())
                .isEqualTo(call("GET", "/no-such-path", null).text().replace("/no-such-path", "/admin/keys"));
    }

    @Test
    void withoutAnAdminCredentialItIs401InOpenAisShape() {
        on();
        for (String[] headers : List.of(
                new String[0],
                new String[] {"Authorization", "Bearer wrong-token"},
                new String[] {"Authorization", "Bearer " + TOKEN + "x"},
                new String[] {"Authorization", "Bearer "},
                new String[] {"Authorization", "Basic " + TOKEN},
                new String[] {"Authorization", "Bearer " + "x".repeat(10_000)},
                new String[] {"Authorization", "Bearer " + DECLARED}, // a proxy key is no admin token
                new String[] {"Authorization", "Bearer " + ProxyKeys.hash(TOKEN)})) { // nor is its hash
            Answer a = call("GET", "/admin/keys", null, headers);
            JsonNode error = a.proxyError(401).get("error");
            assertThat(error.get("code").asText()).isEqualTo("invalid_api_key");
            assertThat(error.get("type").asText()).isEqualTo("invalid_request_error");
            assertThat(a.header("WWW-Authenticate")).startsWith("Bearer");
        }
        assertThat(audit.recent(10)).isEmpty();
    }

    @Test
    void aUserWithoutTheAdminRoleIs403AndOneWithItIsAnAdmin() {
        on();
        Answer refused = asUser("GET", "/admin/keys", Set.of("user"));
        assertThat(refused.proxyError(403).get("error").get("code").asText()).isEqualTo("admin_role_required");

        assertThat(asUser("GET", "/admin/keys", Set.of("proxy-admin")).status()).isEqualTo(200);
        Answer created = EngineFixture.send(
                engine,
                EngineFixture.post("/admin/keys", "{\"name\":\"by alice\"}")
                        .user(new AuthenticatedUser("alice", Set.of("proxy-admin")::contains)));
        assertThat(created.status()).isEqualTo(201);
        assertThat(audit.recent(1).get(0).actor()).isEqualTo("user:alice");
    }

    @Test
    void aWrongBearerTokenIs401EvenForAUserWithTheRole() {
        on();
        Answer a = EngineFixture.send(
                engine,
                ProxyRequest.builder("GET", "/admin/keys")
                        .header("Authorization", "Bearer nope")
                        .user(new AuthenticatedUser("alice", r -> true)));
        assertThat(a.status()).isEqualTo(401);
    }

    @Test
    void theAdminRoleCountsOnlyOnRequestsFromTheProxysOwnOrigin() {
        cors = CorsConfig.builder().origins(List.of("*")).build(); // any site may call the proxy's API
        on();
        AuthenticatedUser alice = new AuthenticatedUser("alice", Set.of("proxy-admin")::contains);
        // A form another site posts with the admin's login (cookie or HTTP basic): no preflight, text/plain.
        for (String origin : List.of("https://evil.example", "null", "https://proxy.example.evil")) {
            Answer forged = EngineFixture.send(
                    engine,
                    ProxyRequest.builder("POST", "/admin/keys")
                            .header("Origin", origin)
                            .header("Content-Type", "text/plain")
                            .requestOrigin("https://proxy.example")
                            .body("{\"name\":\"x\",\"owner\":\"=\"}".getBytes(StandardCharsets.UTF_8))
                            .user(alice));
            assertThat(forged.proxyError(403).get("error").get("code").asText())
                    .as(origin)
                    .isEqualTo("admin_cross_origin");
        }
        assertThat(keys.list()).isEmpty();
        assertThat(audit.recent(10)).isEmpty();

        // From the proxy's own origin, or with no Origin (not a browser): the role counts.
        Answer own = EngineFixture.send(
                engine,
                EngineFixture.post("/admin/keys", "{\"name\":\"own\"}")
                        .header("Origin", "https://PROXY.example")
                        .requestOrigin("https://proxy.example")
                        .user(alice));
        assertThat(own.status()).isEqualTo(201);
        assertThat(asUser("GET", "/admin/keys", Set.of("proxy-admin")).status()).isEqualTo(200);
        // An admin token is no ambient credential: another origin may use it.
        assertThat(call("GET", "/admin/keys", null, "Authorization", "Bearer " + TOKEN, "Origin", "https://x.example")
                        .status())
                .isEqualTo(200);
    }

    @Test
    void keysAreCreatedOnceListedWithoutSecretsRevokedRotatedAndMoved() {
        on();
        Answer created = admin("POST", "/admin/keys", "{\"name\":\"ci\",\"owner\":\"team-a\"}");
        assertThat(created.status()).isEqualTo(201);
        assertThat(created.header("Cache-Control")).isEqualTo("no-store");
        JsonNode key = created.json();
        String secret = key.get("key").asText();
        String id = key.get("id").asText();
        assertThat(ProxyKeys.isWellFormed(secret)).isTrue();
        assertThat(key.get("policy").asText()).isEqualTo(Policy.KEYS);
        assertThat(key.get("prefix").asText()).isEqualTo(ProxyKeys.displayPrefix(secret));
        assertThat(key.get("status").asText()).isEqualTo("active");
        assertThat(keys.findByHash(ProxyKeys.hash(secret))).map(ProxyKey::id).contains(id);

        Answer list = admin("GET", "/admin/keys", null);
        assertThat(list.status()).isEqualTo(200);
        assertThat(list.text())
                .doesNotContain(secret)
                .doesNotContain(ProxyKeys.hash(secret))
                .doesNotContain(ProxyKeys.hash(DECLARED))
                .doesNotContain(DECLARED);
        assertThat(list.json().get("data"))
                .extracting(n -> n.get("id").asText() + "/" + n.get("source").asText())
                .containsExactly("config-ci/config", id + "/stored");
        assertThat(admin("GET", "/admin/keys/" + id, null).text()).doesNotContain(ProxyKeys.hash(secret));

        policies.save(Policy.unrestricted("batch"));
        Answer moved = admin("PATCH", "/admin/keys/" + id, "{\"policy\":\"batch\"}");
        assertThat(moved.status()).isEqualTo(200);
        assertThat(keys.find(id).orElseThrow().policy()).isEqualTo("batch");
        assertThat(admin("PUT", "/admin/keys/" + id, "{\"policy\":\"nope\"}")
                        .proxyError(400)
                        .toString())
                .contains("unknown_policy");

        Answer rotated = admin("POST", "/admin/keys/" + id + "/rotate", null);
        assertThat(rotated.status()).isEqualTo(200);
        String newSecret = rotated.json().get("key").asText();
        assertThat(newSecret).isNotEqualTo(secret);
        assertThat(rotated.json().get("id").asText()).isEqualTo(id);
        assertThat(keys.findByHash(ProxyKeys.hash(secret))).isEmpty();
        assertThat(keys.findByHash(ProxyKeys.hash(newSecret))).map(ProxyKey::id).contains(id);

        Answer revoked = admin("POST", "/admin/keys/" + id + "/revoke", null);
        assertThat(revoked.json().get("status").asText()).isEqualTo("revoked");
        assertThat(keys.find(id).orElseThrow().revokedAt()).isNotNull();
        assertThat(admin("POST", "/admin/keys/" + id + "/rotate", null)
                        .proxyError(409)
                        .toString())
                .contains("key_revoked");

        assertThat(audit.recent(10))
                .extracting(e -> e.action() + " " + e.keyId() + " " + e.actor())
                .containsExactly(
                        "key.revoke " + id + " token:" + ProxyKeys.hash(TOKEN).substring(0, 8),
                        "key.rotate " + id + " token:" + ProxyKeys.hash(TOKEN).substring(0, 8),
                        "key.policy " + id + " token:" + ProxyKeys.hash(TOKEN).substring(0, 8),
                        "key.create " + id + " token:" + ProxyKeys.hash(TOKEN).substring(0, 8));
        assertThat(audit.recent(10).toString()).doesNotContain(secret, newSecret, ProxyKeys.hash(newSecret));
        assertThat(admin("GET", "/admin/audit?limit=2", null).json().get("data"))
                .hasSize(2);
    }

    @Test
    void declaredKeysAndConfiguredPoliciesAreReadOnly() {
        on();
        for (String change : List.of("/admin/keys/config-ci/revoke", "/admin/keys/config-ci/rotate")) {
            assertThat(admin("POST", change, null)
                            .proxyError(409)
                            .get("error")
                            .get("code")
                            .asText())
                    .isEqualTo("key_read_only");
        }
        assertThat(admin("PATCH", "/admin/keys/config-ci", "{\"policy\":\"users\"}")
                        .status())
                .isEqualTo(409);
        assertThat(admin("PUT", "/admin/policies/keys", "{\"max-tokens\":5}")
                        .proxyError(409)
                        .toString())
                .contains("policy_read_only");
        assertThat(admin("DELETE", "/admin/policies/anonymous", null).status()).isEqualTo(409);
        assertThat(audit.recent(10)).isEmpty();
    }

    @Test
    void storedPoliciesAreCreatedChangedListedAndDeleted() {
        on();
        Answer saved = admin(
                "PUT",
                "/admin/policies/batch",
                "{\"models\":[\"gpt-4o-mini\"],\"max-tokens\":500,"
                        + "\"over-cap\":\"refuse\",\"requests-per-minute\":60,\"cost-per-day\":\"5.50\"}");
        assertThat(saved.status()).isEqualTo(200);
        Policy stored = policies.find("batch").orElseThrow();
        assertThat(stored.models()).containsExactly("gpt-4o-mini");
        assertThat(stored.maxTokens()).isEqualTo(500);
        assertThat(stored.overCap()).isEqualTo(Policy.OverCap.REFUSE);
        assertThat(stored.quotas().requestsPerMinute()).isEqualTo(60L);
        assertThat(stored.quotas().costPerDay()).isEqualByComparingTo("5.50");

        assertThat(admin("PUT", "/admin/policies/batch", "{\"max-tokens\":100}").status())
                .isEqualTo(200);
        assertThat(policies.find("batch").orElseThrow().maxTokens()).isEqualTo(100);

        JsonNode list = admin("GET", "/admin/policies", null).json().get("data");
        assertThat(list)
                .extracting(n -> n.get("name").asText() + "/" + n.get("source").asText())
                .containsExactly("keys/config", "users/config", "anonymous/config", "batch/stored");
        assertThat(admin("GET", "/admin/policies/batch", null)
                        .json()
                        .get("max-tokens")
                        .asInt())
                .isEqualTo(100);

        // A key under it keeps it.
        String id = admin("POST", "/admin/keys", "{\"name\":\"b\",\"policy\":\"batch\"}")
                .json()
                .get("id")
                .asText();
        assertThat(admin("DELETE", "/admin/policies/batch", null)
                        .proxyError(409)
                        .toString())
                .contains("policy_in_use");
        admin("POST", "/admin/keys/" + id + "/revoke", null);
        assertThat(admin("DELETE", "/admin/policies/batch", null).status()).isEqualTo(200);
        assertThat(policies.find("batch")).isEmpty();
        assertThat(admin("DELETE", "/admin/policies/batch", null).status()).isEqualTo(404);

        assertThat(audit.recent(10))
                .extracting(AuditEntry::action)
                .containsExactly("policy.delete", "key.revoke", "key.create", "policy.update", "policy.create");
    }

    @Test
    void hostileInputIsRefusedAndNeverA5xx() {
        on();
        String huge = "n".repeat(100_000);
        Map<String, String> bodies = new java.util.LinkedHashMap<>();
        bodies.put("{", "invalid_request");
        bodies.put("[]", "invalid_request");
        bodies.put("\"name\"", "invalid_request");
        bodies.put("{\"name\":\"a\"} {}", "invalid_request");
        bodies.put("{\"name\":\"a\",\"name\":\"b\"}", "invalid_request");
        bodies.put("{}", "invalid_request");
        bodies.put("{\"name\":42}", "invalid_request");
        bodies.put("{\"name\":\"a\\u0000b\"}", "invalid_request");
        bodies.put("{\"name\":\"a\",\"id\":\"key_mine\"}", "invalid_request");
        bodies.put("{\"name\":\"a\",\"hash\":\"" + "0".repeat(64) + "\"}", "invalid_request");
        bodies.put("{\"name\":\"a\",\"policy\":\"../keys\"}", "invalid_request");
        bodies.put("{\"name\":\"a\",\"policy\":\"ghost\"}", "unknown_policy");
        bodies.put("{\"name\":\"a\",\"expiresAt\":\"tomorrow\"}", "invalid_request");
        bodies.put("{\"name\":\"a\",\"expiresAt\":\"2001-01-01T00:00:00Z\"}", "invalid_request");
        for (Map.Entry<String, String> b : bodies.entrySet()) {
            Answer a = admin("POST", "/admin/keys", b.getKey());
            assertThat(a.proxyError(400).get("error").get("code").asText())
                    .as(b.getKey().length() > 80 ? "huge" : b.getKey())
                    .isEqualTo(b.getValue());
        }
        // Over the admin API's 64 KiB: 413 as for every route's body limit, read no further than that.
        assertThat(admin("POST", "/admin/keys", "{\"name\":\"" + huge + "\"}")
                        .proxyError(413)
                        .get("error")
                        .get("code")
                        .asText())
                .isEqualTo("request_too_large");
        assertThat(keys.list()).isEmpty();

        for (String id : List.of(
                "key_unknown",
                "..",
                "%2e%2e",
                "..%2F..%2Fetc%2Fpasswd",
                "%2F",
                "key%00",
                "%ZZ",
                "'%20OR%20'1'='1",
                "k".repeat(300),
                "config-ghost")) {
            for (String[] call : List.of(
                    new String[] {"GET", "/admin/keys/" + id},
                    new String[] {"POST", "/admin/keys/" + id + "/revoke"},
                    new String[] {"POST", "/admin/keys/" + id + "/rotate"},
                    new String[] {"GET", "/admin/policies/" + id},
                    new String[] {"DELETE", "/admin/policies/" + id})) {
                Answer a = admin(call[0], call[1], null);
                assertThat(a.status()).as("%s %s", call[0], call[1]).isBetween(400, 499);
            }
        }
        assertThat(admin("GET", "/admin/keys/key_unknown", null).proxyError(404).toString())
                .contains("key_not_found");
        assertThat(admin("PUT", "/admin/policies/p", "{\"routes\":\"all\"}").status())
                .isEqualTo(400);
        assertThat(admin("PUT", "/admin/policies/p", "{\"max-tokens\":-1}").status())
                .isEqualTo(400);
        assertThat(admin("PUT", "/admin/policies/p", "{\"max-tokens\":1e400}").status())
                .isEqualTo(400);
        assertThat(admin("PUT", "/admin/policies/p", "{\"cost-per-day\":\"" + "9".repeat(50) + "\"}")
                        .status())
                .isEqualTo(400);
        assertThat(admin("PUT", "/admin/policies/p", "{\"name\":\"q\"}").status())
                .isEqualTo(400);
        assertThat(admin("PUT", "/admin/policies/p", "{\"sneaky\":1}").status()).isEqualTo(400);
        assertThat(admin("PUT", "/admin/policies/p", "{\"models\":[\"" + huge + "\"]}")
                        .status())
                .isEqualTo(413);
        assertThat(admin("GET", "/admin/audit?limit=99999", null).status()).isEqualTo(400);
        assertThat(admin("GET", "/admin/audit?limit=x", null).status()).isEqualTo(400);
        assertThat(admin("DELETE", "/admin/keys", null).status()).isEqualTo(405);
        assertThat(policies.list()).isEmpty();
        assertThat(audit.recent(10)).isEmpty();
    }

    /**
     * The audit log is walked back a page at a time with the cursor each page names, down to the first change;
     * changes made between pages (at the head, often in the same millisecond) shift and repeat nothing. A cursor
     * the API did not make is a 400 naming {@code after}, and reads nothing without a credential.
     */
    @Test
    void theAuditLogIsWalkedBackPageByPageWhileChangesAreMade() {
        on();
        for (int i = 0; i < 23; i++) {
            assertThat(admin("PUT", "/admin/policies/p" + i, "{}").status()).isEqualTo(200);
        }
        List<String> before = new java.util.ArrayList<>();
        admin("GET", "/admin/audit?limit=1000", null).json().get("data").forEach(e -> before.add(e.toString()));
        assertThat(before).hasSize(23);

        List<String> seen = new java.util.ArrayList<>();
        String after = null;
        int pages = 0;
        while (true) {
            JsonNode page = admin("GET", "/admin/audit?limit=4" + (after == null ? "" : "&after=" + after), null)
                    .json();
            pages++;
            page.get("data").forEach(e -> seen.add(e.toString()));
            if (!page.get("has_more").asBoolean()) {
                assertThat(page.get("next_after").isNull()).isTrue();
                break;
            }
            after = page.get("next_after").asText();
            admin("DELETE", "/admin/policies/p" + pages, null); // an entry at the head
        }
        assertThat(pages).isEqualTo(6);
        assertThat(seen).containsExactlyElementsOf(before);
        assertThat(seen.get(22)).contains("\"policy\":\"p0\"");
        assertThat(audit.recent(100)).hasSize(23 + 5);

        Answer forged = admin("GET", "/admin/audit?after=not-a-cursor", null);
        assertThat(forged.status()).isEqualTo(400);
        assertThat(forged.json().at("/error/param").asText()).isEqualTo("after");
        assertThat(call("GET", "/admin/audit?after=" + after, null).status()).isEqualTo(401);
        assertThat(audit.recent(100)).hasSize(23 + 5);
    }

    @Test
    void theAdminPathIsConfigurable() {
        engine(new AccessConfig.Admin(true, "/ops/admin", List.of(ProxyKeys.hash(TOKEN)), null));
        assertThat(admin("GET", "/admin/keys", null).status()).isEqualTo(404);
        assertThat(admin("GET", "/ops/admin/keys", null).status()).isEqualTo(200);
        // No role configured: a user is never an admin.
        assertThat(asUser("GET", "/ops/admin/keys", Set.of("admin")).status()).isEqualTo(403);
    }
}
