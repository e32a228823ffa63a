package io.github.openaiproxy.integration;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.wireMockConfig;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.session.JdbcSessionStore;
import io.github.openaiproxy.core.session.NewMessage;
import io.github.openaiproxy.core.session.SessionIds;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.integration.support.CountingDataSource;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.h2.jdbcx.JdbcDataSource;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.postgresql.ds.PGSimpleDataSource;

/**
 * A turn with {@code includeHistory} on a JDBC session that is refused anyway (its history surely makes the body
 * longer than {@code max-body-size}, or the session is full) is refused without the session's messages being read
 * from the database; a session whose latest messages fit still sends them, however large its older ones. Over HTTP,
 * on H2 and on PostgreSQL, counting the text the store's result sets hand over.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class JdbcSessionHistoryReadHttpTest {
    @RegisterExtension
    static WireMockExtension upstream = WireMockExtension.newInstance()
            .options(wireMockConfig().dynamicPort().bindAddress("127.0.0.1"))
            .build();

    private static final ObjectMapper JSON = new ObjectMapper();
    /** Each stored message: 20 of them hold 400,000 characters, far past the 64 KB body limit. */
    private static final String LONG = "x".repeat(20_000);

    private final HttpClient http =
            HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    private final String prefix =
            "h" + UUID.randomUUID().toString().substring(0, 8).toLowerCase(Locale.ROOT) + "_";
    private TomcatProxy proxy;
    private PGSimpleDataSource pg;

    @AfterEach
    void stop() throws Exception {
        if (proxy != null) {
            proxy.close();
        }
        if (pg != null) {
            try (Connection c = pg.getConnection();
                    Statement s = c.createStatement()) {
                for (String t : new String[] {"messages", "sessions", "schema_version"}) {
                    s.execute("DROP TABLE IF EXISTS " + prefix + t);
                }
            }
        }
    }

    @Test
    void aHistoryPastTheBodyLimitIs413WithoutReadingItOnH2() throws Exception {
        aHistoryPastTheBodyLimitIs413WithoutReadingIt(h2());
    }

    @Test
    void aHistoryPastTheBodyLimitIs413WithoutReadingItOnPostgres() throws Exception {
        aHistoryPastTheBodyLimitIs413WithoutReadingIt(postgres());
    }

    @Test
    void aTurnInAFullSessionIs413WithoutReadingItOnH2() throws Exception {
        aTurnInAFullSessionIs413WithoutReadingIt(h2());
    }

    @Test
    void aTurnInAFullSessionIs413WithoutReadingItOnPostgres() throws Exception {
        aTurnInAFullSessionIs413WithoutReadingIt(postgres());
    }

    private void aHistoryPastTheBodyLimitIs413WithoutReadingIt(DataSource db) throws Exception {
        CountingDataSource counting = new CountingDataSource(db);
        String id = start(counting, Map.of("max-body-size", "64KB", "sessions.context-messages", "5"));
        // Large old messages, then five short ones: the session holds far more than a body, its context does not.
        JdbcSessionStore store =
                JdbcSessionStore.builder(db).tablePrefix(prefix).build();
        store.append(id, messages(20, LONG));
        store.append(id, messages(5, "short"));
        counting.reset();

        HttpResponse<String> fits = chat(id);

        assertThat(fits.statusCode()).as(fits.body()).isEqualTo(200);
        JsonNode sent =
                JSON.readTree(upstream.getAllServeEvents().get(0).getRequest().getBodyAsString());
        assertThat(sent.path("messages").findValuesAsText("content"))
                .containsExactly("short", "short", "short", "short", "short", "and?");

        // Now the latest five are long too: 100,000 characters of context for a 64 KB body.
        store.append(id, messages(5, LONG));
        counting.reset();
        int calls = upstream.getAllServeEvents().size();

        HttpResponse<String> refused = chat(id);

        assertThat(refused.statusCode()).as(refused.body()).isEqualTo(413);
        assertThat(JSON.readTree(refused.body()).path("error").asText()).isEqualTo("Payload Too Large");
        assertThat(upstream.getAllServeEvents()).hasSize(calls);
        assertThat(counting.chars()).as("characters read from the database").isLessThan(LONG.length());
    }

    private void aTurnInAFullSessionIs413WithoutReadingIt(DataSource db) throws Exception {
        CountingDataSource counting = new CountingDataSource(db);
        String id = start(counting, Map.of("sessions.max-session-size", "100KB"));
        JdbcSessionStore store =
                JdbcSessionStore.builder(db).tablePrefix(prefix).build();
        store.append(id, messages(6, LONG));
        counting.reset();

        HttpResponse<String> refused = chat(id);

        assertThat(refused.statusCode()).as(refused.body()).isEqualTo(413);
        assertThat(JSON.readTree(refused.body()).path("error").asText()).isEqualTo("Session Full");
        upstream.verify(0, postRequestedFor(urlPathEqualTo("/v1/chat/completions")));
        assertThat(counting.chars()).as("characters read from the database").isLessThan(LONG.length());
    }

    /** Starts the proxy on the counted database; the id of a new session. */
    private String start(CountingDataSource counting, Map<String, String> settings) throws Exception {
        upstream.stubFor(post("/v1/chat/completions")
                .willReturn(aResponse()
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"id\":\"c\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"m\","
                                + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"ok\"},"
                                + "\"finish_reason\":\"stop\"}]}")));
        ProxyConfig config = ProxySettings.from(settings)
                .applyTo(ProxyConfig.builder()
                        .apiKey("sk-server-key-123456")
                        .upstream(UpstreamConfig.defaults().withBaseUrl(URI.create(upstream.baseUrl()))))
                .build();
        JdbcSessionStore sessions = JdbcSessionStore.builder(counting.dataSource())
                .tablePrefix(prefix)
                .build();
        proxy = TomcatProxy.servlet(
                ProxyEngine.builder(config).sessions(sessions).build());
        HttpResponse<String> created = http.send(
                HttpRequest.newBuilder(proxy.uri("/sessions"))
                        .POST(HttpRequest.BodyPublishers.noBody())
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
        return JSON.readTree(created.body()).path("sessionId").asText();
    }

    private HttpResponse<String> chat(String id) throws Exception {
        String body = "{\"model\":\"m\",\"sessionId\":\"" + id + "\",\"includeHistory\":true,"
                + "\"messages\":[{\"role\":\"user\",\"content\":\"and?\"}]}";
        return http.send(
                HttpRequest.newBuilder(proxy.uri("/"))
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(body))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private static List<NewMessage> messages(int n, String content) {
        Instant now = Instant.now().truncatedTo(ChronoUnit.MILLIS);
        List<NewMessage> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(new NewMessage(SessionIds.newMessageId(), "user", content, null, now));
        }
        return out;
    }

    private static DataSource h2() {
        JdbcDataSource h2 = new JdbcDataSource();
        h2.setURL("jdbc:h2:mem:history-read-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
        return h2;
    }

    private DataSource postgres() {
        String url = System.getenv("OPENAI_PROXY_TEST_PG_URL");
        if ("required".equals(System.getenv("OPENAI_PROXY_PG_TESTS"))) {
            assertThat(url)
                    .as("OPENAI_PROXY_TEST_PG_URL (.ci/run starts PostgreSQL)")
                    .isNotBlank();
        }
        Assumptions.assumeTrue(url != null && !url.isBlank(), "OPENAI_PROXY_TEST_PG_URL is not set");
        pg = new PGSimpleDataSource();
        pg.setURL(url);
        pg.setUser(System.getenv("OPENAI_PROXY_TEST_PG_USER"));
        pg.setPassword(System.getenv("OPENAI_PROXY_TEST_PG_PASSWORD"));
        return pg;
    }
}
