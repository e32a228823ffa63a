package io.github.openaiproxy.spring.web;

import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.WireMockServer;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.UUID;
import javax.sql.DataSource;
import org.awaitility.Awaitility;
import org.h2.jdbcx.JdbcDataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;

/**
 * The context stopped and started again without being closed ({@code stop()} then {@code start()}, as a CRaC
 * checkpoint and restore do): the web server comes back, and so must the proxy behind it, usage ledger included.
 * The engine used to be closed on every stop, so after a restart the proxy answered 200 with an empty body and
 * recorded nothing.
 */
class StopStartIntegrationTests {
    private static final String DB = "jdbc:h2:mem:stop-start-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1";
    static final WireMockServer upstream = Upstream.start();

    @SpringBootConfiguration
    @EnableAutoConfiguration
    static class Application {
        @Bean
        DataSource dataSource() {
            JdbcDataSource h2 = new JdbcDataSource();
            h2.setURL(DB);
            return h2;
        }
    }

    @AfterAll
    static void stopUpstream() {
        upstream.stop();
    }

    @Test
    void theProxyServesAndRecordsUsageAfterTheContextIsStoppedAndStartedAgain() throws Exception {
        try (ConfigurableApplicationContext context = new SpringApplicationBuilder(Application.class)
                .properties(
                        "server.port=0",
                        "server.address=127.0.0.1",
                        "openai.proxy.api-key=" + Upstream.KEY,
                        "openai.proxy.base-url=http://127.0.0.1:" + upstream.port(),
                        "openai.proxy.ledger.store=jdbc",
                        "openai.proxy.ledger.flush-interval=100ms")
                .run()) {
            assertThat(chat(context).body()).contains("Hello from the upstream");
            Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> usageRows() == 1);

            context.stop();
            context.start();

            HttpResponse<String> again = chat(context);
            assertThat(again.statusCode()).isEqualTo(200);
            assertThat(again.body()).contains("Hello from the upstream");
            Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> usageRows() == 2);
        }
    }

    /** A completion through the proxy, on the port the web server listens on now (port 0: a new one on restart). */
    private static HttpResponse<String> chat(ConfigurableApplicationContext context) throws Exception {
        int port = ((WebServerApplicationContext) context).getWebServer().getPort();
        return HttpClient.newHttpClient()
                .send(
                        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/chat/completions"))
                                .header("Content-Type", "application/json")
                                .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"gpt-4o-mini\","
                                        + "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}"))
                                .build(),
                        HttpResponse.BodyHandlers.ofString());
    }

    private static long usageRows() throws Exception {
        JdbcDataSource h2 = new JdbcDataSource();
        h2.setURL(DB);
        try (Connection c = h2.getConnection();
                ResultSet rs = c.createStatement().executeQuery("SELECT COUNT(*) FROM openai_proxy_usage")) {
            rs.next();
            return rs.getLong(1);
        }
    }
}
