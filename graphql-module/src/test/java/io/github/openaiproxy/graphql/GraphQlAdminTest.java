package io.github.openaiproxy.graphql;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.access.AuditEntry;
import io.github.openaiproxy.core.access.AuditLog;
import io.github.openaiproxy.core.access.InMemoryPolicyStore;
import io.github.openaiproxy.core.access.InMemoryProxyKeyStore;
import io.github.openaiproxy.core.access.ProxyKey;
import io.github.openaiproxy.core.access.ProxyKeys;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.http.AuthenticatedUser;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.images.FilesystemImageStore;
import io.github.openaiproxy.core.images.ImageIds;
import io.github.openaiproxy.core.usage.TokenUsage;
import io.github.openaiproxy.core.usage.UsageRecord;
import io.github.openaiproxy.core.usage.ledger.InMemoryUsageLedger;
import io.github.openaiproxy.graphql.support.GraphQlServer;
import io.github.openaiproxy.graphql.support.Upstream;
import io.github.openaiproxy.testsupport.BodyReader;
import java.io.ByteArrayInputStream;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The admin API as GraphQL fields: the admin REST route run with the caller's own credential, so the same
 * callers are let in (an admin token, a user with {@code admin.role}), the same errors come back (as
 * {@code extensions.code} with the REST code as {@code extensions.reason}), and the same audit rows are written.
 * The engine is called in process (the host users are handed over as an adapter does), and once over HTTP.
 */
class GraphQlAdminTest {
    @RegisterExtension
    static final Upstream upstream = new Upstream();

    static final ObjectMapper JSON = new ObjectMapper();
    static final String TOKEN = "admin-token-0123456789abcdef0123456789";
    static final String ACTOR = "token:" + ProxyKeys.hash(TOKEN).substring(0, 8);
    static final AuthenticatedUser ADMIN_USER = new AuthenticatedUser("alice", Set.of("proxy-admin")::contains);
    static final AuthenticatedUser PLAIN_USER = new AuthenticatedUser("bob", role -> false);

    static final String KEY_FIELDS =
            "id prefix name owner policy status source createdAt expiresAt revokedAt lastUsedAt";
    static final String CREATE = "mutation C($input: NewProxyKeyInput!) { adminCreateKey(input: $input)"
            + " { key proxyKey { " + KEY_FIELDS + " } } }";
    static final String LIST = "{ adminKeys { data { " + KEY_FIELDS + " } } }";
    static final String GET = "query K($id: ID!) { adminKey(id: $id) { " + KEY_FIELDS + " } }";
    static final String REVOKE = "mutation R($id: ID!) { adminRevokeKey(id: $id) { id status revokedAt } }";
    static final String ROTATE = "mutation R($id: ID!) { adminRotateKey(id: $id) { key proxyKey { id prefix } } }";
    static final String CHANGE = "mutation P($id: ID!, $policy: String!) {"
            + " adminChangeKeyPolicy(id: $id, policy: $policy) { id policy } }";
    static final String POLICIES = "{ adminPolicies { name source rules } }";
    static final String POLICY = "query P($name: String!) { adminPolicy(name: $name) { name source rules } }";
    static final String SAVE = "mutation S($name: String!, $rules: JSON!) {"
            + " adminSavePolicy(name: $name, rules: $rules) { name source rules } }";
    static final String DELETE = "mutation D($name: String!) { adminDeletePolicy(name: $name) { name deleted } }";
    static final String USAGE = "query U($since: String!, $by: String, $key: String) { adminUsage(since: $since,"
            + " by: $by, key: $key) { data { group requests inputTokens outputTokens costUsd estimated } } }";
    static final String AUDIT = "query A($limit: Int) { adminAudit(limit: $limit) { at actor action keyId policy } }";
    static final String DELETE_IMAGE = "mutation I($id: ID!) { adminDeleteImage(id: $id) { id deleted } }";

    private final InMemoryProxyKeyStore keys = new InMemoryProxyKeyStore();
    private final InMemoryPolicyStore policies = new InMemoryPolicyStore();
    private final AuditLog audit = AuditLog.inMemory();
    private final InMemoryUsageLedger ledger =
            new InMemoryUsageLedger(1000, java.time.Duration.ofDays(90), java.time.Clock.systemUTC());
    private ProxyEngine engine;

    @AfterEach
    void close() {
        if (engine != null) {
            engine.close();
        }
    }

    static ProxyConfig config(boolean adminEnabled) {
        return config(adminEnabled, Map.of());
    }

    static ProxyConfig config(boolean adminEnabled, Map<String, String> more) {
        Map<String, String> settings = new HashMap<>(more);
        settings.put("admin.enabled", Boolean.toString(adminEnabled));
        settings.put("admin.tokens", ProxyKeys.hash(TOKEN));
        settings.put("admin.role", "proxy-admin");
        settings.put("policies.free.max-tokens", "200");
        return ProxySettings.from(settings)
                .applyTo(GraphQlServer.config(upstream.baseUrl()))
                .build();
    }

    private void start(boolean adminEnabled) {
        start(config(adminEnabled));
    }

    private void start(ProxyConfig config) {
        engine = ProxyEngine.builder(config)
                .route(GraphQlRoute.create(config, GraphQlOptions.DEFAULTS))
                .proxyKeys(keys)
                .policyStore(policies)
                .auditLog(audit)
                .usageLedger(ledger)
                .build();
    }

    /** A caller: its Authorization header ({@code null}: none) and host user ({@code null}: none). */
    record Caller(String authorization, AuthenticatedUser user) {}

    static final Caller ADMIN = new Caller("Bearer " + TOKEN, null);
    static final Caller NOBODY = new Caller(null, null);

    private JsonNode call(Caller caller, String query, Map<String, Object> variables) {
        try {
            byte[] body = JSON.writeValueAsBytes(Map.of("query", query, "variables", variables));
            ProxyRequest.Builder b = ProxyRequest.builder("POST", "/graphql")
                    .header("Content-Type", "application/json")
                    .header("Content-Length", Integer.toString(body.length))
                    .remoteAddress("127.0.0.1")
                    .user(caller.user())
                    .body(body);
            if (caller.authorization() != null) {
                b.header("Authorization", caller.authorization());
            }
            ProxyResponse r = engine.handle(b.build()).get(30, TimeUnit.SECONDS);
            String text = BodyReader.collect(r.body()).get(30, TimeUnit.SECONDS).text();
            assertThat(r.status()).as(text).isEqualTo(200);
            return JSON.readTree(text);
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    private JsonNode data(Caller caller, String query, Map<String, Object> variables) {
        JsonNode answer = call(caller, query, variables);
        assertThat(answer.has("errors")).as(answer.toString()).isFalse();
        return answer.get("data");
    }

    /** The one error of an answer, asserted to have this code (and the field's data null). */
    private static JsonNode error(JsonNode answer, String code) {
        assertThat(answer.path("errors")).as(answer.toString()).hasSize(1);
        JsonNode error = answer.path("errors").get(0);
        assertThat(error.at("/extensions/code").asText()).as(answer.toString()).isEqualTo(code);
        answer.path("data")
                .forEach(field ->
                        assertThat(field.isNull()).as(answer.toString()).isTrue());
        return error;
    }

    private static String reason(JsonNode error) {
        return error.at("/extensions/reason").asText();
    }

    private static Map<String, Object> newKey(String name) {
        Map<String, Object> input = new LinkedHashMap<>();
        input.put("name", name);
        input.put("owner", "team-a");
        return input;
    }

    /** A host user's request with this {@code Origin}, the proxy's own origin being https://proxy.example. */
    private JsonNode fromOrigin(AuthenticatedUser user, String origin, String query) {
        try {
            byte[] body = JSON.writeValueAsBytes(Map.of("query", query, "variables", Map.of("input", newKey("x"))));
            ProxyRequest r = ProxyRequest.builder("POST", "/graphql")
                    .header("Content-Type", "application/json")
                    .header("Content-Length", Integer.toString(body.length))
                    .header("Origin", origin)
                    .requestOrigin("https://proxy.example")
                    .remoteAddress("127.0.0.1")
                    .user(user)
                    .body(body)
                    .build();
            ProxyResponse answer = engine.handle(r).get(30, TimeUnit.SECONDS);
            return JSON.readTree(
                    BodyReader.collect(answer.body()).get(30, TimeUnit.SECONDS).text());
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void aHostUsersAdminRoleCountsOnlyFromTheProxysOwnOriginAsOnRest() {
        // A page elsewhere that a logged-in admin visits (an origin CORS allows with credentials, or one with XSS)
        // must not use the role through GraphQL any more than through REST (403 admin_cross_origin).
        start(config(true, Map.of("cors.allowed-origins", "https://app.example", "cors.allow-credentials", "true")));

        JsonNode foreign = fromOrigin(ADMIN_USER, "https://app.example", CREATE);
        JsonNode own = fromOrigin(ADMIN_USER, "https://proxy.example", CREATE);

        assertThat(reason(error(foreign, "FORBIDDEN"))).isEqualTo("admin_cross_origin");
        assertThat(own.at("/data/adminCreateKey/key").asText())
                .as(own.toString())
                .startsWith(ProxyKeys.PREFIX);
        assertThat(keys.list()).hasSize(1);
    }

    @Test
    void anAdminTokenManagesKeysAndPoliciesAndEveryChangeIsAudited() {
        start(true);
        // create: the key itself this once
        JsonNode created = data(ADMIN, CREATE, Map.of("input", newKey("ci"))).get("adminCreateKey");
        String secret = created.get("key").asText();
        String id = created.at("/proxyKey/id").asText();
        assertThat(secret).startsWith(ProxyKeys.PREFIX);
        assertThat(ProxyKeys.isWellFormed(secret)).isTrue();
        assertThat(created.at("/proxyKey/name").asText()).isEqualTo("ci");
        assertThat(created.at("/proxyKey/owner").asText()).isEqualTo("team-a");
        assertThat(created.at("/proxyKey/policy").asText()).isEqualTo("keys");
        assertThat(created.at("/proxyKey/status").asText()).isEqualTo("active");
        assertThat(created.at("/proxyKey/source").asText()).isEqualTo("stored");
        assertThat(created.at("/proxyKey/expiresAt").isNull()).isTrue();
        assertThat(secret).startsWith(created.at("/proxyKey/prefix").asText());
        assertThat(keys.find(id).orElseThrow().hash()).isEqualTo(ProxyKeys.hash(secret));

        // list and get: never the key, never its hash
        String hash = ProxyKeys.hash(secret);
        JsonNode list = call(ADMIN, LIST, Map.of());
        assertThat(list.at("/data/adminKeys/data").findValuesAsText("id")).containsExactly(id);
        assertThat(list.toString()).doesNotContain(secret).doesNotContain(hash);
        JsonNode one = call(ADMIN, GET, Map.of("id", id));
        assertThat(one.at("/data/adminKey")).isEqualTo(list.at("/data/adminKeys/data/0"));
        assertThat(one.toString()).doesNotContain(secret).doesNotContain(hash);

        // a stored policy, and the key under it
        Map<String, Object> rules = Map.of("models", List.of("gpt-4o-mini"), "max-tokens", 500);
        JsonNode saved =
                data(ADMIN, SAVE, Map.of("name", "batch", "rules", rules)).get("adminSavePolicy");
        assertThat(saved.get("name").asText()).isEqualTo("batch");
        assertThat(saved.get("source").asText()).isEqualTo("stored");
        assertThat(saved.at("/rules/max-tokens").asInt()).isEqualTo(500);
        assertThat(saved.at("/rules/models/0").asText()).isEqualTo("gpt-4o-mini");
        assertThat(policies.find("batch")).isPresent();
        assertThat(data(ADMIN, POLICY, Map.of("name", "batch")).get("adminPolicy"))
                .isEqualTo(saved);
        JsonNode all = data(ADMIN, POLICIES, Map.of()).get("adminPolicies");
        assertThat(all.findValuesAsText("name")).contains("free", "batch");
        assertThat(data(ADMIN, POLICY, Map.of("name", "free"))
                        .at("/adminPolicy/source")
                        .asText())
                .isEqualTo("config");
        assertThat(data(ADMIN, CHANGE, Map.of("id", id, "policy", "batch"))
                        .at("/adminChangeKeyPolicy/policy")
                        .asText())
                .isEqualTo("batch");
        assertThat(keys.find(id).orElseThrow().policy()).isEqualTo("batch");

        // a policy a key is under cannot go: the REST code comes along as the reason
        assertThat(reason(error(call(ADMIN, DELETE, Map.of("name", "batch")), "CONFLICT")))
                .isEqualTo("policy_in_use");

        // rotate: a new key, same id; the old one's hash is gone
        JsonNode rotated = data(ADMIN, ROTATE, Map.of("id", id)).get("adminRotateKey");
        String newSecret = rotated.get("key").asText();
        assertThat(newSecret).startsWith(ProxyKeys.PREFIX).isNotEqualTo(secret);
        assertThat(rotated.at("/proxyKey/id").asText()).isEqualTo(id);
        assertThat(keys.find(id).orElseThrow().hash()).isEqualTo(ProxyKeys.hash(newSecret));
        assertThat(call(ADMIN, LIST, Map.of()).toString())
                .doesNotContain(newSecret)
                .doesNotContain(ProxyKeys.hash(newSecret));

        // revoke, then the policy may go
        JsonNode revoked = data(ADMIN, REVOKE, Map.of("id", id)).get("adminRevokeKey");
        assertThat(revoked.get("status").asText()).isEqualTo("revoked");
        assertThat(keys.find(id).orElseThrow().revokedAt()).isNotNull();
        assertThat(reason(error(call(ADMIN, ROTATE, Map.of("id", id)), "CONFLICT")))
                .isEqualTo("key_revoked");
        assertThat(data(ADMIN, DELETE, Map.of("name", "batch")).get("adminDeletePolicy"))
                .isEqualTo(JSON.createObjectNode().put("name", "batch").put("deleted", true));
        assertThat(policies.find("batch")).isEmpty();

        // the audit log: as REST writes it, read back newest first
        List<AuditEntry> rows = audit.recent(100);
        assertThat(rows)
                .extracting(AuditEntry::action)
                .containsExactly(
                        "policy.delete", "key.revoke", "key.rotate", "key.policy", "policy.create", "key.create");
        assertThat(rows).extracting(AuditEntry::actor).containsOnly(ACTOR);
        assertThat(rows.get(5).keyId()).isEqualTo(id);
        JsonNode entries = data(ADMIN, AUDIT, Map.of("limit", 3)).get("adminAudit");
        assertThat(entries).hasSize(3);
        assertThat(entries.findValuesAsText("action")).containsExactly("policy.delete", "key.revoke", "key.rotate");
        assertThat(entries.get(0).get("policy").asText()).isEqualTo("batch");
        assertThat(entries.get(1).get("keyId").asText()).isEqualTo(id);
        assertThat(entries.get(1).get("actor").asText()).isEqualTo(ACTOR);
        assertThat(entries.get(1).get("at").asText()).isEqualTo(rows.get(1).at().toString());
        assertThat(data(ADMIN, AUDIT, Map.of()).get("adminAudit")).hasSize(6);
    }

    /** Every admin field with its variables, against a key and a policy that exist. */
    private List<Object[]> everyField(String id) {
        List<Object[]> fields = new ArrayList<>();
        fields.add(new Object[] {LIST, Map.of()});
        fields.add(new Object[] {GET, Map.of("id", id)});
        fields.add(new Object[] {POLICIES, Map.of()});
        fields.add(new Object[] {POLICY, Map.of("name", "stored")});
        fields.add(new Object[] {AUDIT, Map.of()});
        fields.add(new Object[] {CREATE, Map.of("input", newKey("sneaky"))});
        fields.add(new Object[] {REVOKE, Map.of("id", id)});
        fields.add(new Object[] {ROTATE, Map.of("id", id)});
        fields.add(new Object[] {CHANGE, Map.of("id", id, "policy", "free")});
        fields.add(new Object[] {SAVE, Map.of("name", "stored", "rules", Map.of("max-n", 9))});
        fields.add(new Object[] {SAVE, Map.of("name", "another", "rules", Map.of())});
        fields.add(new Object[] {DELETE, Map.of("name", "stored")});
        // An unknown id is refused for the missing credential first, as on REST: no oracle of what exists.
        fields.add(new Object[] {GET, Map.of("id", "key_unknown")});
        fields.add(new Object[] {REVOKE, Map.of("id", "key_unknown")});
        fields.add(new Object[] {DELETE_IMAGE, Map.of("id", ImageIds.newId())});
        fields.add(new Object[] {USAGE, Map.of("since", "7d", "by", "key")});
        return fields;
    }

    @SuppressWarnings("unchecked")
    @Test
    void withoutAnAdminCredentialEveryFieldIsRefusedAndNothingChanges() {
        start(true);
        String id = data(ADMIN, CREATE, Map.of("input", newKey("ci")))
                .at("/adminCreateKey/proxyKey/id")
                .asText();
        data(ADMIN, SAVE, Map.of("name", "stored", "rules", Map.of("max-n", 1)));
        ProxyKey key = keys.find(id).orElseThrow();
        List<AuditEntry> before = audit.recent(100);
        upstream.server().resetRequests();

        List<Caller> unauthenticated = List.of(
                NOBODY,
                new Caller("Bearer wrong-token", null),
                new Caller("Bearer " + TOKEN + "x", null),
                new Caller("Bearer " + ProxyKeys.hash(TOKEN), null), // its hash is no token
                new Caller("Basic " + TOKEN, null),
                // (An unknown proxy key is refused by the identify step before GraphQL runs: a 401 of its own.)
                new Caller("Bearer " + "x".repeat(20_000), null),
                // a wrong token is 401 whoever is logged in, as on REST
                new Caller("Bearer wrong-token", ADMIN_USER));
        for (Caller caller : unauthenticated) {
            for (Object[] field : everyField(id)) {
                JsonNode e = error(call(caller, (String) field[0], (Map<String, Object>) field[1]), "UNAUTHENTICATED");
                assertThat(reason(e)).isEqualTo("invalid_api_key");
                assertThat(e.toString()).doesNotContain(TOKEN);
            }
        }
        for (Object[] field : everyField(id)) {
            JsonNode e = error(
                    call(new Caller(null, PLAIN_USER), (String) field[0], (Map<String, Object>) field[1]), "FORBIDDEN");
            assertThat(reason(e)).isEqualTo("admin_role_required");
        }

        assertThat(keys.list()).containsExactly(key);
        assertThat(policies.list()).extracting(p -> p.name()).containsExactly("stored");
        assertThat(audit.recent(100)).as("no audit row").isEqualTo(before);
        assertThat(upstream.server().getAllServeEvents()).isEmpty();
    }

    @Test
    void aUserWithTheAdminRoleIsAnAdminAndAuditedByName() {
        start(true);
        Caller alice = new Caller(null, ADMIN_USER);
        String id = data(alice, CREATE, Map.of("input", newKey("from-alice")))
                .at("/adminCreateKey/proxyKey/id")
                .asText();
        assertThat(data(alice, LIST, Map.of()).at("/adminKeys/data").findValuesAsText("id"))
                .containsExactly(id);
        data(alice, REVOKE, Map.of("id", id));
        assertThat(audit.recent(10))
                .extracting(AuditEntry::actor, AuditEntry::action, AuditEntry::keyId)
                .containsExactly(
                        org.assertj.core.groups.Tuple.tuple("user:alice", "key.revoke", id),
                        org.assertj.core.groups.Tuple.tuple("user:alice", "key.create", id));
    }

    @Test
    void anAdminDeletesAStoredImageAuditedWithItsId(@TempDir Path directory) {
        Map<String, String> settings = new HashMap<>();
        settings.put("admin.enabled", "true");
        settings.put("admin.tokens", ProxyKeys.hash(TOKEN));
        settings.put("images.store", "filesystem");
        ProxyConfig config = ProxySettings.from(settings)
                .applyTo(GraphQlServer.config(upstream.baseUrl()))
                .build();
        FilesystemImageStore images = FilesystemImageStore.create(directory);
        engine = ProxyEngine.builder(config)
                .route(GraphQlRoute.create(config, GraphQlOptions.DEFAULTS))
                .imageStore(images)
                .auditLog(audit)
                .build();
        byte[] png = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 1, 2, 3};
        String id = images.put(ImageIds.newId(), "image/png", "user:bob", new ByteArrayInputStream(png), 1_000)
                .id();

        // no admin: refused, and the image stays
        error(call(new Caller(null, PLAIN_USER), DELETE_IMAGE, Map.of("id", id)), "FORBIDDEN");
        assertThat(images.find(id)).isPresent();

        JsonNode deleted = data(ADMIN, DELETE_IMAGE, Map.of("id", id)).get("adminDeleteImage");
        assertThat(deleted.get("id").asText()).isEqualTo(id);
        assertThat(deleted.get("deleted").asBoolean()).isTrue();
        assertThat(images.find(id)).isEmpty();
        JsonNode entry = data(ADMIN, "{ adminAudit(limit: 1) { actor action keyId imageId } }", Map.of())
                .at("/adminAudit/0");
        assertThat(entry.get("action").asText()).isEqualTo("image.delete");
        assertThat(entry.get("imageId").asText()).isEqualTo(id);
        assertThat(entry.get("keyId").isNull()).isTrue();
        assertThat(entry.get("actor").asText()).isEqualTo(ACTOR);

        // gone now; an id that is no image id, or one with a path in it, is as unknown
        for (String unknown : List.of(id, "../../etc/passwd", "img_x", ImageIds.newId())) {
            assertThat(reason(error(call(ADMIN, DELETE_IMAGE, Map.of("id", unknown)), "NOT_FOUND")))
                    .as(unknown)
                    .isEqualTo("image_not_found");
        }
        assertThat(audit.recent(10)).hasSize(1);
    }

    @Test
    void withTheAdminApiOffTheAdminFieldsDoNotExist() {
        start(false);
        for (Caller caller : List.of(ADMIN, new Caller(null, ADMIN_USER))) {
            JsonNode e = error(call(caller, LIST, Map.of()), "GRAPHQL_VALIDATION_FAILED");
            assertThat(e.get("message").asText()).contains("adminKeys");
            JsonNode create = call(caller, CREATE, Map.of("input", newKey("ci")));
            assertThat(create.has("data")).isFalse();
            assertThat(create.path("errors").findValuesAsText("code")).containsOnly("GRAPHQL_VALIDATION_FAILED");
        }
        JsonNode schema = data(ADMIN, "{ __schema { types { name fields { name } } } }", Map.of());
        assertThat(schema.toString()).doesNotContainIgnoringCase("admin").doesNotContain("ProxyKey");
        assertThat(keys.list()).isEmpty();
        assertThat(audit.recent(10)).isEmpty();

        // The rest of the schema is as before.
        upstream.echoChats();
        assertThat(data(ADMIN, "mutation { createSession { success } }", Map.of())
                        .at("/createSession/success")
                        .asBoolean())
                .isTrue();
    }

    @Test
    void hostileInputGetsCleanErrorsAndChangesNothing() {
        start(true);
        String id = data(ADMIN, CREATE, Map.of("input", newKey("ci")))
                .at("/adminCreateKey/proxyKey/id")
                .asText();
        List<AuditEntry> before = audit.recent(100);

        // ids and names that do not exist, or cannot be a path segment: what was asked for is not found
        for (String unknown : List.of(
                "key_unknown",
                "a/b",
                "..",
                ".",
                "../policies",
                "%",
                "%2F",
                "key_\u0000",
                "x".repeat(100_000),
                id + "/revoke",
                id + "?x=1",
                id + "#",
                "ключ")) {
            assertThat(reason(error(call(ADMIN, GET, Map.of("id", unknown)), "NOT_FOUND")))
                    .isEqualTo("key_not_found");
            assertThat(reason(error(call(ADMIN, REVOKE, Map.of("id", unknown)), "NOT_FOUND")))
                    .isEqualTo("key_not_found");
            assertThat(reason(error(call(ADMIN, ROTATE, Map.of("id", unknown)), "NOT_FOUND")))
                    .isEqualTo("key_not_found");
            assertThat(reason(error(call(ADMIN, POLICY, Map.of("name", unknown)), "NOT_FOUND")))
                    .isEqualTo("policy_not_found");
        }
        for (String blank : List.of("", " ")) {
            error(call(ADMIN, GET, Map.of("id", blank)), "BAD_USER_INPUT");
            error(call(ADMIN, DELETE, Map.of("name", blank)), "BAD_USER_INPUT");
        }

        // policies that are no policy
        Map<String, Object> huge = Map.of("models", List.of("m".repeat(70_000)));
        for (Object rules : List.of(
                "max-tokens=5",
                List.of(1, 2),
                42,
                Map.of("unknown-rule", 1),
                Map.of("max-tokens", "many"),
                Map.of("max-tokens", -1),
                Map.of("models", "gpt-4o"),
                Map.of("over-cap", "explode"))) {
            assertThat(reason(error(call(ADMIN, SAVE, Map.of("name", "bad", "rules", rules)), "BAD_USER_INPUT")))
                    .as(rules.toString()
                            .substring(0, Math.min(40, rules.toString().length())))
                    .isEqualTo("invalid_request");
        }
        // Over the admin API's 64 KiB body: refused as REST refuses it, before it is read whole.
        assertThat(reason(error(call(ADMIN, SAVE, Map.of("name", "bad", "rules", huge)), "BAD_USER_INPUT")))
                .isEqualTo("request_too_large");
        for (String name : List.of("bad name!", "x".repeat(100), "..", "a/b")) {
            JsonNode e = error(call(ADMIN, SAVE, Map.of("name", name, "rules", Map.of())), "BAD_USER_INPUT");
            assertThat(reason(e)).isEqualTo("invalid_request");
        }
        assertThat(reason(error(call(ADMIN, SAVE, Map.of("name", "free", "rules", Map.of())), "CONFLICT")))
                .isEqualTo("policy_read_only");
        assertThat(reason(error(call(ADMIN, DELETE, Map.of("name", "free")), "CONFLICT")))
                .isEqualTo("policy_read_only");
        assertThat(reason(error(call(ADMIN, DELETE, Map.of("name", "never-saved")), "NOT_FOUND")))
                .isEqualTo("policy_not_found");

        // keys asked for with bad fields
        for (Map<String, Object> input : List.of(
                Map.<String, Object>of("name", "x".repeat(1000)),
                Map.<String, Object>of("name", ""),
                Map.<String, Object>of("name", "tab\there"),
                Map.<String, Object>of("name", "ci", "expiresAt", "tomorrow"),
                Map.<String, Object>of("name", "ci", "expiresAt", "2001-01-01T00:00:00Z"),
                Map.<String, Object>of("name", "ci", "owner", "o".repeat(1000)))) {
            assertThat(reason(error(call(ADMIN, CREATE, Map.of("input", input)), "BAD_USER_INPUT")))
                    .isEqualTo("invalid_request");
        }
        assertThat(reason(error(
                        call(ADMIN, CREATE, Map.of("input", Map.of("name", "x".repeat(100_000)))), "BAD_USER_INPUT")))
                .isEqualTo("request_too_large");
        assertThat(reason(error(
                        call(ADMIN, CREATE, Map.of("input", Map.of("name", "ci", "policy", "nope"))),
                        "BAD_USER_INPUT")))
                .isEqualTo("unknown_policy");
        assertThat(reason(error(call(ADMIN, CHANGE, Map.of("id", id, "policy", "nope")), "BAD_USER_INPUT")))
                .isEqualTo("unknown_policy");
        assertThat(reason(error(call(ADMIN, CHANGE, Map.of("id", id, "policy", "x".repeat(1000))), "BAD_USER_INPUT")))
                .isEqualTo("invalid_request");
        for (int limit : new int[] {0, -1, 1001, Integer.MAX_VALUE}) {
            error(call(ADMIN, AUDIT, Map.of("limit", limit)), "BAD_USER_INPUT");
        }

        assertThat(keys.list()).hasSize(1);
        assertThat(keys.find(id).orElseThrow().policy()).isEqualTo("keys");
        assertThat(policies.list()).isEmpty();
        assertThat(audit.recent(100)).as("no audit row for a refused change").isEqualTo(before);
    }

    @Test
    void overHttpTheClientsOwnAuthorizationHeaderIsTheCredential() throws Exception {
        try (GraphQlServer server = GraphQlServer.start(config(true))) {
            String create =
                    JSON.writeValueAsString(Map.of("query", CREATE, "variables", Map.of("input", newKey("ci"))));
            HttpResponse<String> refused = server.post(create);
            assertThat(refused.statusCode()).isEqualTo(200);
            error(JSON.readTree(refused.body()), "UNAUTHENTICATED");

            HttpResponse<String> r = server.send(HttpRequest.newBuilder(server.uri("/graphql"))
                    .header("Content-Type", "application/json")
                    .header("Authorization", "Bearer " + TOKEN)
                    .POST(HttpRequest.BodyPublishers.ofString(create)));
            JsonNode created = JSON.readTree(r.body());
            assertThat(created.has("errors")).as(r.body()).isFalse();
            String secret = created.at("/data/adminCreateKey/key").asText();
            assertThat(secret).startsWith(ProxyKeys.PREFIX);
            assertThat(r.headers().firstValue("Cache-Control")).hasValue("no-store");

            // A query over GET works the same way, with the header the client sent.
            HttpResponse<String> list = server.send(HttpRequest.newBuilder(server.uri("/graphql?query="
                            + java.net.URLEncoder.encode(LIST, java.nio.charset.StandardCharsets.UTF_8)))
                    .header("Authorization", "Bearer " + TOKEN)
                    .GET());
            JsonNode listed = JSON.readTree(list.body());
            assertThat(listed.at("/data/adminKeys/data/0/id").asText())
                    .isEqualTo(created.at("/data/adminCreateKey/proxyKey/id").asText());
            assertThat(list.body()).doesNotContain(secret).doesNotContain(ProxyKeys.hash(secret));
        }
    }

    /**
     * Over HTTP, adminKeys answers a ProxyKeyPage as GET /admin/keys does: at most limit keys, hasMore and the
     * cursor nextAfter, followed to the last page without a key twice; a bad limit or a cursor the API did not make
     * is BAD_USER_INPUT naming it, and a cursor reads nothing without an admin credential.
     */
    @Test
    void adminKeysIsPagedAsRestIs() throws Exception {
        String query = "query K($limit: Int, $after: String) { adminKeys(limit: $limit, after: $after)"
                + " { data { id } hasMore nextAfter } }";
        List<String> made = new java.util.ArrayList<>();
        for (int i = 0; i < 12; i++) {
            ProxyKeys.NewKey k = ProxyKeys.generate();
            made.add("key_" + (char) ('a' + i));
            keys.insert(new io.github.openaiproxy.core.access.ProxyKey(
                    made.get(i),
                    k.displayPrefix(),
                    k.hash(),
                    "k" + i,
                    null,
                    "keys",
                    java.time.Instant.now(),
                    null,
                    null,
                    null));
        }
        try (GraphQlServer server =
                GraphQlServer.start(config(true), GraphQlOptions.DEFAULTS, b -> b.proxyKeys(keys))) {
            java.util.function.BiFunction<Map<String, Object>, String, JsonNode> ask = (variables, authorization) -> {
                try {
                    HttpRequest.Builder b = HttpRequest.newBuilder(server.uri("/graphql"))
                            .header("Content-Type", "application/json")
                            .POST(HttpRequest.BodyPublishers.ofString(
                                    JSON.writeValueAsString(Map.of("query", query, "variables", variables))));
                    if (authorization != null) {
                        b.header("Authorization", authorization);
                    }
                    return JSON.readTree(server.send(b).body());
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            };
            JsonNode all = ask.apply(Map.of(), "Bearer " + TOKEN);
            assertThat(all.has("errors")).as(all.toString()).isFalse();
            assertThat(all.at("/data/adminKeys/data").findValuesAsText("id")).containsExactlyElementsOf(made);
            assertThat(all.at("/data/adminKeys/hasMore").asBoolean()).isFalse();
            assertThat(all.at("/data/adminKeys/nextAfter").isNull()).isTrue();

            List<String> seen = new java.util.ArrayList<>();
            Map<String, Object> variables = new HashMap<>(Map.of("limit", 5));
            for (int pages = 1; ; pages++) {
                JsonNode answer = ask.apply(variables, "Bearer " + TOKEN);
                assertThat(answer.has("errors")).as(answer.toString()).isFalse();
                JsonNode page = answer.at("/data/adminKeys");
                seen.addAll(page.get("data").findValuesAsText("id"));
                if (!page.get("hasMore").asBoolean()) {
                    assertThat(pages).isEqualTo(3);
                    break;
                }
                assertThat(page.get("data")).hasSize(5);
                variables.put("after", page.get("nextAfter").asText());
            }
            assertThat(seen).containsExactlyElementsOf(made);

            for (int limit : List.of(0, -1, 1001)) {
                JsonNode e = error(ask.apply(Map.of("limit", limit), "Bearer " + TOKEN), "BAD_USER_INPUT");
                assertThat(e.get("message").asText()).isEqualTo("limit must be an integer from 1 to 1000");
            }
            for (String after : List.of("garbage!", "' OR '1'='1", "a2V5X2E")) {
                JsonNode e = error(ask.apply(Map.of("after", after), "Bearer " + TOKEN), "BAD_USER_INPUT");
                assertThat(e.get("message").asText()).startsWith("after must be");
            }
            String cursor = ask.apply(Map.of("limit", 1), "Bearer " + TOKEN)
                    .at("/data/adminKeys/nextAfter")
                    .asText();
            JsonNode anonymous = ask.apply(Map.of("after", cursor), null);
            error(anonymous, "UNAUTHENTICATED");
            assertThat(anonymous.toString()).doesNotContain("key_b");
        }
    }

    /**
     * Over HTTP, adminAuditPage answers an AuditPage as GET /admin/audit pages: newest first, hasMore and the
     * cursor nextAfter, followed to the first change without an entry twice or missing while changes are made
     * between pages; adminAudit(limit) answers the latest entries as before. A bad limit or a cursor the API did
     * not make (a key cursor among them) is BAD_USER_INPUT naming it, and a cursor reads nothing without an admin
     * credential.
     */
    @Test
    void adminAuditPageWalksTheLogBackAsRestDoes() throws Exception {
        String query = "query A($limit: Int, $after: String) { adminAuditPage(limit: $limit, after: $after)"
                + " { data { at actor action keyId imageId policy } hasMore nextAfter } }";
        io.github.openaiproxy.core.access.AuditLog log = io.github.openaiproxy.core.access.AuditLog.inMemory();
        java.time.Instant t = java.time.Instant.parse("2026-03-01T00:00:00Z");
        for (int i = 0; i < 13; i++) {
            // One instant for all: only their place in the log tells them apart.
            log.record(new io.github.openaiproxy.core.access.AuditEntry(t, "cli", "key.revoke", "key_" + i, null));
        }
        try (GraphQlServer server = GraphQlServer.start(config(true), GraphQlOptions.DEFAULTS, b -> b.auditLog(log))) {
            java.util.function.BiFunction<Map<String, Object>, String, JsonNode> ask =
                    (variables, authorization) -> overHttp(server, query, variables, authorization);
            List<String> made = new java.util.ArrayList<>();
            for (int i = 12; i >= 0; i--) {
                made.add("key_" + i);
            }
            JsonNode all = ask.apply(Map.of(), "Bearer " + TOKEN);
            assertThat(all.has("errors")).as(all.toString()).isFalse();
            assertThat(all.at("/data/adminAuditPage/data").findValuesAsText("keyId"))
                    .containsExactlyElementsOf(made);
            assertThat(all.at("/data/adminAuditPage/hasMore").asBoolean()).isFalse();
            assertThat(all.at("/data/adminAuditPage/nextAfter").isNull()).isTrue();

            List<String> seen = new java.util.ArrayList<>();
            Map<String, Object> variables = new HashMap<>(Map.of("limit", 5));
            for (int pages = 1; ; pages++) {
                JsonNode answer = ask.apply(variables, "Bearer " + TOKEN);
                assertThat(answer.has("errors")).as(answer.toString()).isFalse();
                JsonNode page = answer.at("/data/adminAuditPage");
                seen.addAll(page.get("data").findValuesAsText("keyId"));
                if (!page.get("hasMore").asBoolean()) {
                    assertThat(pages).isEqualTo(3);
                    break;
                }
                assertThat(page.get("data")).hasSize(5);
                variables.put("after", page.get("nextAfter").asText());
                log.record(new io.github.openaiproxy.core.access.AuditEntry(
                        t, "cli", "key.create", "key_new" + pages, null)); // at the head, between pages
            }
            assertThat(seen).containsExactlyElementsOf(made);
            // The old field is unchanged: the latest entries, a bare list.
            JsonNode latest = overHttp(server, AUDIT, Map.of("limit", 2), "Bearer " + TOKEN);
            assertThat(latest.has("errors")).as(latest.toString()).isFalse();
            assertThat(latest.at("/data/adminAudit").findValuesAsText("keyId")).containsExactly("key_new2", "key_new1");

            for (int limit : List.of(0, -1, 1001)) {
                JsonNode e = error(ask.apply(Map.of("limit", limit), "Bearer " + TOKEN), "BAD_USER_INPUT");
                assertThat(e.get("message").asText()).isEqualTo("limit must be an integer from 1 to 1000");
            }
            String keyCursor = java.util.Base64.getUrlEncoder()
                    .withoutPadding()
                    .encodeToString("k1:key_1".getBytes(java.nio.charset.StandardCharsets.UTF_8));
            for (String after : List.of("garbage!", "' OR '1'='1", "YTE6MA", keyCursor)) {
                JsonNode e = error(ask.apply(Map.of("after", after), "Bearer " + TOKEN), "BAD_USER_INPUT");
                assertThat(e.get("message").asText()).startsWith("after must be");
            }
            String cursor = ask.apply(Map.of("limit", 1), "Bearer " + TOKEN)
                    .at("/data/adminAuditPage/nextAfter")
                    .asText();
            JsonNode anonymous = ask.apply(Map.of("after", cursor), null);
            error(anonymous, "UNAUTHENTICATED");
            assertThat(anonymous.toString()).doesNotContain("key_1");
        }
    }

    /** The answer of {@code query} posted to {@code server} over HTTP, with this Authorization header or none. */
    private static JsonNode overHttp(
            GraphQlServer server, String query, Map<String, Object> variables, String authorization) {
        try {
            HttpRequest.Builder b = HttpRequest.newBuilder(server.uri("/graphql"))
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(
                            JSON.writeValueAsString(Map.of("query", query, "variables", variables))));
            if (authorization != null) {
                b.header("Authorization", authorization);
            }
            return JSON.readTree(server.send(b).body());
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    static UsageRecord usageRow(String key, String model, long in, long costNano) {
        return new UsageRecord(
                java.time.Instant.now().minusSeconds(60),
                "PROXY_KEY",
                key,
                key,
                "team-a",
                "keys",
                "/v1/chat/completions",
                model,
                model,
                "default",
                200,
                200,
                new TokenUsage(in, 0, 10, 0, 0),
                costNano,
                false,
                false,
                UsageRecord.Outcome.COMPLETED,
                1,
                -1,
                null);
    }

    /** adminUsage sums the ledger as GET /admin/usage does; a bad argument is BAD_USER_INPUT naming it. */
    @Test
    void adminUsageSumsTheLedger() {
        start(true);
        ledger.record(usageRow("key_a", "gpt-4o", 100, 1_500_000_000L));
        ledger.record(usageRow("key_a", "gpt-4o-mini", 50, 1));
        ledger.record(usageRow("key_b", "gpt-4o", 7, 2));
        JsonNode rows = data(ADMIN, USAGE, Map.of("since", "1d", "by", "model", "key", "key_a"))
                .at("/adminUsage/data");
        assertThat(rows).hasSize(2);
        assertThat(rows.get(0).get("group").asText()).isEqualTo("gpt-4o");
        assertThat(rows.get(0).get("requests").asLong()).isEqualTo(1);
        assertThat(rows.get(0).get("inputTokens").asLong()).isEqualTo(100);
        assertThat(new java.math.BigDecimal(rows.get(0).get("costUsd").asText()))
                .isEqualByComparingTo("1.5");
        JsonNode byKey = data(ADMIN, USAGE, Map.of("since", "1d")).at("/adminUsage/data");
        assertThat(byKey).extracting(r -> r.get("group").asText()).containsExactly("key_a", "key_b");

        JsonNode bad = error(call(ADMIN, USAGE, Map.of("since", "1d", "by", "galaxy")), "BAD_USER_INPUT");
        assertThat(bad.get("message").asText()).contains("by");
        error(call(ADMIN, USAGE, Map.of("since", "-3d")), "BAD_USER_INPUT");
        error(call(ADMIN, USAGE, Map.of("since", "9999999d")), "BAD_USER_INPUT");
    }

    /**
     * Over HTTP, adminUsage says as GET /admin/usage's has_more does whether its limit left groups out, so a client
     * never takes the rows of a cut answer for the whole range's usage; and the range it summed.
     */
    @Test
    void adminUsageSaysWhetherItsLimitLeftGroupsOut() throws Exception {
        String query = "query U($limit: Int) { adminUsage(since: \"1d\", by: \"model\", limit: $limit)"
                + " { data { group } hasMore by since until } }";
        try (GraphQlServer server =
                GraphQlServer.start(config(true), GraphQlOptions.DEFAULTS, b -> b.usageLedger(ledger))) {
            ledger.record(usageRow("key_a", "gpt-4o", 100, 3));
            ledger.record(usageRow("key_a", "gpt-4o-mini", 50, 2));
            ledger.record(usageRow("key_b", "o3", 7, 1));
            for (int limit = 1; limit <= 4; limit++) {
                HttpResponse<String> r = server.send(HttpRequest.newBuilder(server.uri("/graphql"))
                        .header("Content-Type", "application/json")
                        .header("Authorization", "Bearer " + TOKEN)
                        .POST(HttpRequest.BodyPublishers.ofString(
                                JSON.writeValueAsString(Map.of("query", query, "variables", Map.of("limit", limit))))));
                JsonNode answer = JSON.readTree(r.body());
                assertThat(answer.has("errors")).as(r.body()).isFalse();
                JsonNode page = answer.at("/data/adminUsage");
                assertThat(page.get("data")).as("limit %d", limit).hasSize(Math.min(limit, 3));
                assertThat(page.get("hasMore").asBoolean())
                        .as("limit %d", limit)
                        .isEqualTo(limit < 3);
                assertThat(page.get("by").asText()).isEqualTo("model");
                assertThat(java.time.Duration.between(
                                java.time.Instant.parse(page.get("since").asText()),
                                java.time.Instant.parse(page.get("until").asText())))
                        .isEqualTo(java.time.Duration.ofDays(1));
            }
        }
    }
}
