package io.github.openaiproxy.integration;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.anyRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.wireMockConfig;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.errors.UnauthorizedException;
import com.openai.models.ChatModel;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.access.AccessConfig;
import io.github.openaiproxy.core.access.ProxyKeys;
import io.github.openaiproxy.core.access.jdbc.JdbcAuditLog;
import io.github.openaiproxy.core.access.jdbc.JdbcPolicyStore;
import io.github.openaiproxy.core.access.jdbc.JdbcProxyKeyStore;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.servlet.support.OpenAiFixtures;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import io.github.openaiproxy.testkit.ManualClock;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import javax.sql.DataSource;
import org.h2.jdbcx.JdbcDataSource;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.postgresql.ds.PGSimpleDataSource;

/**
 * Two proxies on one key database, each with its own key cache: a key made through instance A's admin API
 * works on instance B, and once A revokes it, B refuses it within 5 seconds (B's clock is moved, not waited
 * for). On H2 always, and on PostgreSQL ({@code OPENAI_PROXY_TEST_PG_URL}; required in CI).
 */
class SharedKeyDatabaseTest {
    private static final String SERVER_KEY = "sk-server-key-123456";
    private static final ProxyKeys.NewKey ADMIN_TOKEN = ProxyKeys.generateAdminToken();
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    @RegisterExtension
    static WireMockExtension upstream = WireMockExtension.newInstance()
            .options(wireMockConfig().dynamicPort().bindAddress("127.0.0.1"))
            .build();

    private final List<AutoCloseable> open = new ArrayList<>();

    @AfterEach
    void stop() throws Exception {
        for (int i = open.size() - 1; i >= 0; i--) {
            open.get(i).close();
        }
    }

    @Test
    void aRevocationOnOneInstanceIsRefusedByTheOtherWithinFiveSecondsOnH2() throws Exception {
        JdbcDataSource h2 = new JdbcDataSource();
        h2.setURL("jdbc:h2:mem:shared-keys-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
        revocationReachesTheOtherInstance(h2, "openai_proxy_");
    }

    @Test
    void aRevocationOnOneInstanceIsRefusedByTheOtherWithinFiveSecondsOnPostgres() throws Exception {
        String url = System.getenv("OPENAI_PROXY_TEST_PG_URL");
        if ("required".equals(System.getenv("OPENAI_PROXY_PG_TESTS"))) {
            assertThat(url)
                    .as("OPENAI_PROXY_TEST_PG_URL (.ci/run starts PostgreSQL)")
                    .isNotBlank();
        }
        Assumptions.assumeTrue(url != null && !url.isBlank(), "OPENAI_PROXY_TEST_PG_URL is not set");
        PGSimpleDataSource pg = new PGSimpleDataSource();
        pg.setUrl(url);
        if (System.getenv("OPENAI_PROXY_TEST_PG_USER") != null) {
            pg.setUser(System.getenv("OPENAI_PROXY_TEST_PG_USER"));
        }
        pg.setPassword(System.getenv("OPENAI_PROXY_TEST_PG_PASSWORD"));
        String prefix = "r" + UUID.randomUUID().toString().substring(0, 8).toLowerCase(Locale.ROOT) + "_";
        open.add(() -> {
            try (Connection c = pg.getConnection();
                    Statement s = c.createStatement()) {
                for (String t : new String[] {"proxy_keys", "policies", "audit_log", "access_schema_version"}) {
                    s.execute("DROP TABLE IF EXISTS " + prefix + t);
                }
            }
        });
        revocationReachesTheOtherInstance(pg, prefix);
    }

    private void revocationReachesTheOtherInstance(DataSource db, String prefix) throws Exception {
        upstream.stubFor(post("/v1/chat/completions")
                .willReturn(aResponse()
                        .withStatus(200)
                        .withHeader("Content-Type", "application/json")
                        .withBody(OpenAiFixtures.CHAT_COMPLETION)));
        ManualClock clockB = new ManualClock();
        TomcatProxy a = instance(db, prefix, new ManualClock());
        TomcatProxy b = instance(db, prefix, clockB);

        JsonNode created = admin(a, "POST", "/admin/keys", "{\"name\":\"shared\",\"policy\":\"keys\"}");
        String key = created.get("key").asText();
        String id = created.get("id").asText();

        OpenAIClient onB = client(b, key);
        onB.chat().completions().create(params());
        admin(a, "POST", "/admin/keys/" + id + "/revoke", null);
        clockB.advance(Duration.ofSeconds(5));

        UnauthorizedException refused = catchThrowableOfType(
                UnauthorizedException.class, () -> onB.chat().completions().create(params()));
        assertThat(refused).as("instance B refuses the key A revoked").isNotNull();
        assertThat(upstream.findAll(anyRequestedFor(anyUrl()))).hasSize(1);
    }

    private TomcatProxy instance(DataSource db, String prefix, ManualClock clock) {
        ProxyConfig config = ProxyConfig.builder()
                .apiKey(SERVER_KEY)
                .upstream(UpstreamConfig.defaults().withBaseUrl(URI.create(upstream.baseUrl())))
                .access(AccessConfig.DEFAULTS
                        .withAnonymous(AccessConfig.Anonymous.DENY)
                        .withAdmin(
                                AccessConfig.Admin.OFF.withEnabled(true).withTokenHashes(List.of(ADMIN_TOKEN.hash()))))
                .build();
        ProxyEngine engine = ProxyEngine.builder(config)
                .proxyKeys(JdbcProxyKeyStore.create(db, prefix))
                .policyStore(JdbcPolicyStore.create(db, prefix))
                .auditLog(JdbcAuditLog.create(db, prefix))
                .clock(clock)
                .build();
        TomcatProxy proxy = TomcatProxy.servlet(engine);
        open.add(proxy::close);
        return proxy;
    }

    private static JsonNode admin(TomcatProxy proxy, String method, String path, String body) throws Exception {
        HttpRequest.Builder r = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxy.port() + path))
                .header("Authorization", "Bearer " + ADMIN_TOKEN.secret())
                .header("Content-Type", "application/json")
                .method(
                        method,
                        body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        HttpResponse<String> response = HTTP.send(r.build(), HttpResponse.BodyHandlers.ofString());
        assertThat(response.statusCode())
                .as(method + " " + path + ": " + response.body())
                .isBetween(200, 201);
        return JSON.readTree(response.body());
    }

    private OpenAIClient client(TomcatProxy proxy, String apiKey) {
        OpenAIClient client = OpenAIOkHttpClient.builder()
                .baseUrl("http://127.0.0.1:" + proxy.port() + "/v1")
                .apiKey(apiKey)
                .maxRetries(0)
                .build();
        open.add(client::close);
        return client;
    }

    private static ChatCompletionCreateParams params() {
        return ChatCompletionCreateParams.builder()
                .model(ChatModel.GPT_4O_MINI)
                .addUserMessage("Say hello")
                .build();
    }
}
