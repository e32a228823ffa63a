package io.github.openaiproxy.examples.standalone;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.openaiproxy.core.access.DeclaredProxyKeys;
import io.github.openaiproxy.core.access.ProxyKeys;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The admin API of the standalone server over real HTTP, with keys, policies and the audit log in its H2
 * database, and the {@code keys} command line on the same database.
 */
class StandaloneAdminTest {
    static final String TOKEN = "admin-token-for-tests-0123456789";
    static final ObjectMapper JSON = new ObjectMapper();

    final HttpClient http = HttpClient.newHttpClient();

    @TempDir
    Path dir;

    Map<String, String> env(boolean admin) {
        Map<String, String> env = new HashMap<>();
        if (admin) {
            env.put("OPENAI_PROXY_ADMIN_ENABLED", "true");
            env.put("OPENAI_PROXY_ADMIN_TOKENS", ProxyKeys.hash("another-token") + "," + ProxyKeys.hash(TOKEN));
        }
        return env;
    }

    StandaloneServer start(Map<String, String> env) throws Exception {
        return StandaloneServer.start(new StandaloneOptions(0, "127.0.0.1", true), env, Clock.systemUTC(), dir);
    }

    HttpResponse<String> call(StandaloneServer server, String method, String path, String body, String token)
            throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path))
                .method(
                        method,
                        body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (body != null) {
            b.header("Content-Type", "application/json");
        }
        if (token != null) {
            b.header("Authorization", "Bearer " + token);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    /** What the command line printed, and its exit code. */
    record Run(int code, String out, String err) {}

    Run cli(Map<String, String> env, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = KeysCommand.run(
                args,
                env,
                dir,
                new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    static String line(String out, String label) {
        return out.lines()
                .filter(l -> l.startsWith(label))
                .map(l -> l.substring(label.length()).strip())
                .findFirst()
                .orElseThrow(() -> new AssertionError("no " + label + " in " + out));
    }

    List<String> auditRows() throws Exception {
        List<String> rows = new ArrayList<>();
        String url =
                "jdbc:h2:file:" + dir.resolve("data").resolve("openai-proxy").toAbsolutePath() + ";AUTO_SERVER=TRUE";
        try (Connection c = DriverManager.getConnection(url, "sa", "");
                ResultSet rs = c.createStatement()
                        .executeQuery("SELECT actor, action, key_id, policy FROM openai_proxy_audit_log ORDER BY id")) {
            while (rs.next()) {
                rows.add(rs.getString(1) + " " + rs.getString(2) + " " + rs.getString(3) + " " + rs.getString(4));
            }
        }
        return rows;
    }

    @Test
    void offByDefaultTheAdminPathsAre404() throws Exception {
        try (StandaloneServer server = start(env(false))) {
            assertThat(call(server, "GET", "/admin/keys", null, TOKEN).statusCode())
                    .isEqualTo(404);
            assertThat(call(server, "POST", "/admin/keys", "{\"name\":\"x\"}", TOKEN)
                            .statusCode())
                    .isEqualTo(404);
        }
    }

    @Test
    void adminCallsNeedAnAdminToken() throws Exception {
        try (StandaloneServer server = start(env(true))) {
            for (String token : new String[] {null, "wrong", TOKEN.substring(1), ProxyKeys.hash(TOKEN)}) {
                HttpResponse<String> r = call(server, "GET", "/admin/keys", null, token);
                assertThat(r.statusCode()).as(String.valueOf(token)).isEqualTo(401);
                assertThat(JSON.readTree(r.body()).at("/error/code").asText()).isEqualTo("invalid_api_key");
                assertThat(r.headers().firstValue("WWW-Authenticate"))
                        .hasValueSatisfying(v -> assertThat(v).startsWith("Bearer"));
            }
            assertThat(call(server, "GET", "/admin/keys", null, TOKEN).statusCode())
                    .isEqualTo(200);
        }
        assertThat(auditRows()).isEmpty();
    }

    @Test
    void keysManagedOverRestAreKeptInTheDatabaseAndAudited() throws Exception {
        String declared = ProxyKeys.generate().secret();
        Map<String, String> env = env(true);
        env.put("OPENAI_PROXY_ACCESS_KEYS", DeclaredProxyKeys.entry(ProxyKeys.hash(declared), "keys", "deploy"));
        String id;
        String secret;
        try (StandaloneServer server = start(env)) {
            HttpResponse<String> created =
                    call(server, "POST", "/admin/keys", "{\"name\":\"ci\",\"owner\":\"team-a\"}", TOKEN);
            assertThat(created.statusCode()).isEqualTo(201);
            JsonNode key = JSON.readTree(created.body());
            id = key.get("id").asText();
            secret = key.get("key").asText();
            assertThat(ProxyKeys.isWellFormed(secret)).isTrue();

            HttpResponse<String> moved = call(server, "PATCH", "/admin/keys/" + id, "{\"policy\":\"users\"}", TOKEN);
            assertThat(moved.statusCode()).isEqualTo(200);
            assertThat(JSON.readTree(moved.body()).get("policy").asText()).isEqualTo("users");
            assertThat(call(server, "PUT", "/admin/policies/batch", "{\"max-tokens\":100}", TOKEN)
                            .statusCode())
                    .isEqualTo(200);
        }
        try (StandaloneServer restarted = start(env)) {
            HttpResponse<String> list = call(restarted, "GET", "/admin/keys", null, TOKEN);
            assertThat(list.statusCode()).isEqualTo(200);
            assertThat(list.body())
                    .doesNotContain(secret)
                    .doesNotContain(ProxyKeys.hash(secret))
                    .doesNotContain(declared)
                    .doesNotContain(ProxyKeys.hash(declared));
            JsonNode data = JSON.readTree(list.body()).get("data");
            assertThat(data)
                    .extracting(n -> n.get("id").asText() + " "
                            + n.get("source").asText() + " " + n.get("policy").asText())
                    .containsExactly("config-deploy config keys", id + " stored users");
            assertThat(JSON.readTree(call(restarted, "GET", "/admin/policies/batch", null, TOKEN)
                                    .body())
                            .get("max-tokens")
                            .asInt())
                    .isEqualTo(100);
            assertThat(call(restarted, "POST", "/admin/keys/config-deploy/revoke", null, TOKEN)
                            .statusCode())
                    .isEqualTo(409);
            assertThat(call(restarted, "POST", "/admin/keys/" + id + "/revoke", null, TOKEN)
                            .statusCode())
                    .isEqualTo(200);
        }
        String actor = "token:" + ProxyKeys.hash(TOKEN).substring(0, 8);
        assertThat(auditRows())
                .containsExactly(
                        actor + " key.create " + id + " keys",
                        actor + " key.policy " + id + " users",
                        actor + " policy.create null batch",
                        actor + " key.revoke " + id + " null");
    }

    @Test
    void hostileInputIsNeverA5xx() throws Exception {
        try (StandaloneServer server = start(env(true))) {
            String huge = "n".repeat(200_000);
            for (String body : List.of(
                    "{",
                    "null",
                    "[]",
                    "{\"name\":\"" + huge + "\"}",
                    "{\"name\":{\"nested\":[1,2,3]}}",
                    "{\"name\":\"a\",\"policy\":\"" + huge + "\"}",
                    "{\"name\":\"a\",\"expiresAt\":\"+999999999-12-31T23:59:59Z\"}",
                    "\u0000\u0001")) {
                HttpResponse<String> r = call(server, "POST", "/admin/keys", body, TOKEN);
                assertThat(r.statusCode())
                        .as(body.length() > 60 ? "huge" : body)
                        .isEqualTo(body.length() > 64 * 1024 ? 413 : 400);
                assertThat(JSON.readTree(r.body()).at("/error/type").asText()).isEqualTo("invalid_request_error");
            }
            for (String id : List.of(
                    "key_unknown",
                    "..%2F..%2Fadmin",
                    "%2e%2e",
                    "..;",
                    "%00",
                    "config-",
                    "%27%20OR%201%3D1",
                    "k".repeat(5000))) {
                for (String[] c : List.of(
                        new String[] {"GET", "/admin/keys/" + id},
                        new String[] {"POST", "/admin/keys/" + id + "/revoke"},
                        new String[] {"POST", "/admin/keys/" + id + "/rotate"},
                        new String[] {"PUT", "/admin/policies/" + id},
                        new String[] {"DELETE", "/admin/policies/" + id})) {
                    HttpResponse<String> r =
                            call(server, c[0], c[1], c[0].equals("PUT") ? "{\"max-tokens\":\"many\"}" : null, TOKEN);
                    assertThat(r.statusCode()).as("%s %s", c[0], c[1]).isBetween(400, 499);
                }
            }
            assertThat(call(server, "GET", "/admin/keys/key_unknown", null, TOKEN)
                            .statusCode())
                    .isEqualTo(404);
            assertThat(JSON.readTree(call(server, "GET", "/admin/keys", null, TOKEN)
                                    .body())
                            .get("data"))
                    .isEmpty();
        }
        assertThat(auditRows()).isEmpty();
    }

    @Test
    void theCommandLineManagesKeysInTheServersDatabase() throws Exception {
        Map<String, String> env = env(true);
        Run created = cli(env, "keys", "create", "--name", "ci", "--policy", "keys", "--owner", "team-a");
        assertThat(created.code()).as(created.err()).isZero();
        String id = line(created.out(), "id:");
        String secret = line(created.out(), "key:");
        assertThat(ProxyKeys.isWellFormed(secret)).isTrue();

        Run list = cli(env, "keys", "list");
        assertThat(list.code()).isZero();
        assertThat(list.out()).contains(id, "ci", "team-a", "active").doesNotContain(secret, ProxyKeys.hash(secret));

        try (StandaloneServer server = start(env)) {
            // The running server sees what the command line made, and the other way round.
            assertThat(call(server, "GET", "/admin/keys/" + id, null, TOKEN).body())
                    .contains("\"name\":\"ci\"");
            Run rotated = cli(env, "keys", "rotate", id);
            assertThat(rotated.code()).as(rotated.err()).isZero();
            assertThat(line(rotated.out(), "id:")).isEqualTo(id);
            assertThat(line(rotated.out(), "key:")).isNotEqualTo(secret);
            assertThat(JSON.readTree(call(server, "GET", "/admin/keys/" + id, null, TOKEN)
                                    .body())
                            .get("prefix")
                            .asText())
                    .isEqualTo(ProxyKeys.displayPrefix(line(rotated.out(), "key:")));
        }
        Run revoked = cli(env, "keys", "revoke", id);
        assertThat(revoked.code()).isZero();
        assertThat(cli(env, "keys", "list").out()).contains("revoked");
        assertThat(auditRows())
                .containsExactly(
                        "cli key.create " + id + " keys",
                        "cli key.rotate " + id + " null",
                        "cli key.revoke " + id + " null");

        Run unknown = cli(env, "keys", "revoke", "key_nope");
        assertThat(unknown.code()).isEqualTo(1);
        assertThat(unknown.err()).contains("key_not_found");
        assertThat(cli(env, "keys", "create", "--policy", "ghost", "--name", "x")
                        .err())
                .contains("unknown_policy");
        assertThat(cli(env, "keys", "create").err()).contains("name is required");
        assertThat(cli(env, "keys").code()).isEqualTo(2);
        assertThat(cli(env, "keys", "drop", "everything").code()).isEqualTo(2);
        assertThat(cli(env, "keys", "create", "--name").code()).isEqualTo(2);
        assertThat(cli(env, "keys", "create", "--name", "x", "--sudo", "yes").code())
                .isEqualTo(2);
        assertThat(cli(env, "keys", "create", "--name", "x", "--expires", "soon")
                        .code())
                .isEqualTo(2);
    }

    @Test
    void keysHashPrintsAKeyWithWhatConfigurationHoldsOfIt() throws Exception {
        Run hashed = cli(Map.of(), "keys", "hash", "--name", "deploy", "--policy", "users");
        assertThat(hashed.code()).isZero();
        String secret = line(hashed.out(), "key:");
        String hash = line(hashed.out(), "sha256:");
        assertThat(hash).isEqualTo(ProxyKeys.hash(secret));
        String entry = line(hashed.out(), "access.keys entry (OPENAI_PROXY_ACCESS_KEYS):");
        assertThat(DeclaredProxyKeys.parse(List.of(entry))).singleElement().satisfies(k -> {
            assertThat(k.id()).isEqualTo("config-deploy");
            assertThat(k.hash()).isEqualTo(hash);
            assertThat(k.policy()).isEqualTo("users");
        });

        assertThat(cli(Map.of(), "keys", "hash", "--name", "bad name").code()).isEqualTo(2);
    }

    @Test
    void keysAdminTokenPrintsATokenThatIsNoProxyKeyAndWorksOnceItsHashIsConfigured() throws Exception {
        Run printed = cli(Map.of(), "keys", "admin-token");
        assertThat(printed.code()).isZero();
        String token = line(printed.out(), "token:");
        String hash = line(printed.out(), "sha256:");
        assertThat(token).startsWith(ProxyKeys.ADMIN_TOKEN_PREFIX).doesNotStartWith(ProxyKeys.PREFIX);
        assertThat(hash).isEqualTo(ProxyKeys.hash(token));

        Map<String, String> env = new HashMap<>();
        env.put("OPENAI_PROXY_ADMIN_ENABLED", "true");
        env.put("OPENAI_PROXY_ADMIN_TOKENS", hash);
        try (StandaloneServer server = start(env)) {
            assertThat(call(server, "GET", "/admin/keys", null, token).statusCode())
                    .isEqualTo(200);
        }
        assertThat(cli(Map.of(), "keys", "admin-token", "--name", "x").code()).isEqualTo(2);
    }
}
