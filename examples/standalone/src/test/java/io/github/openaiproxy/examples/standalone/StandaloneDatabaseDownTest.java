package io.github.openaiproxy.examples.standalone;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Map;
import java.util.UUID;
import org.h2.tools.Server;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * While the database is down, a session call answers 503 after the pool's {@code db.connection-timeout} (3 s by
 * default), not after HikariCP's 30 s or the 10 s this server used to set: each waiting call holds a thread. The
 * database is an H2 TCP server the test stops (new connections are refused, open ones cut).
 */
class StandaloneDatabaseDownTest {
    private final HttpClient http = HttpClient.newHttpClient();
    private Server database;
    private StandaloneServer server;

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
        if (database != null) {
            database.stop();
        }
    }

    @Test
    void aSessionCallAnswers503SoonWhileTheDatabaseIsDown() throws Exception {
        database = Server.createTcpServer("-tcpPort", "0", "-ifNotExists").start();
        String url = "jdbc:h2:tcp://127.0.0.1:" + database.getPort() + "/mem:down-" + UUID.randomUUID()
                + ";DB_CLOSE_DELAY=-1";
        server = StandaloneServer.start(
                new StandaloneOptions(0, "127.0.0.1", true),
                Map.of("OPENAI_PROXY_DB_URL", url, "OPENAI_PROXY_DB_POOL_SIZE", "2"));
        assertThat(createSession().statusCode()).isEqualTo(201);

        database.stop();
        // Past HikariCP's 500 ms without a liveness check: the pool finds its connections dead and opens new ones.
        Thread.sleep(700);
        long started = System.nanoTime();
        HttpResponse<String> refused = createSession();
        Duration took = Duration.ofNanos(System.nanoTime() - started);

        assertThat(refused.statusCode()).as(refused.body()).isEqualTo(503);
        assertThat(took).isLessThan(Duration.ofSeconds(6));
    }

    @Test
    void aConnectionTimeoutBelowHikarisSmallestIsRefusedAtStart() {
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> SessionStorage.pool(
                        Map.of(
                                "OPENAI_PROXY_DB_URL",
                                "jdbc:h2:mem:never",
                                "OPENAI_PROXY_DB_CONNECTION_TIMEOUT",
                                "100ms"),
                        null,
                        "test"))
                .isInstanceOf(io.github.openaiproxy.core.config.InvalidSettingException.class)
                .hasMessageContaining("OPENAI_PROXY_DB_CONNECTION_TIMEOUT")
                .hasMessageContaining("at least 250ms");
    }

    private HttpResponse<String> createSession() throws Exception {
        return http.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/sessions"))
                        .POST(HttpRequest.BodyPublishers.noBody())
                        .timeout(Duration.ofSeconds(30))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }
}
