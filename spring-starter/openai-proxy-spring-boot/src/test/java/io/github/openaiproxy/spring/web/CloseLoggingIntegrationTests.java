package io.github.openaiproxy.spring.web;

import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.WireMockServer;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.sql.Connection;
import java.util.UUID;
import javax.sql.DataSource;
import org.h2.jdbcx.JdbcDataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;

/**
 * What the engine logs while the context closes reaches the application's log. The engine logs through {@link
 * System.Logger}, that is java.util.logging, which Spring Boot bridges to its logging system and unbridges when it
 * cleans that system up, late in the context's stop but before the beans are destroyed: an engine closed as a bean
 * (then its usage ledger) logged into nothing, so a ledger that could not write its queue said so to no one.
 */
@ExtendWith(OutputCaptureExtension.class)
class CloseLoggingIntegrationTests {
    private static final String DB = "jdbc:h2:mem:close-logging-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1";
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
    void aLedgerThatCannotWriteItsQueueWhileTheContextClosesSaysSo(CapturedOutput output) throws Exception {
        ConfigurableApplicationContext context = new SpringApplicationBuilder(Application.class)
                .properties(
                        "server.port=0",
                        "server.address=127.0.0.1",
                        "openai.proxy.api-key=" + Upstream.KEY,
                        "openai.proxy.base-url=http://127.0.0.1:" + upstream.port(),
                        "openai.proxy.ledger.store=jdbc",
                        // Nothing is written before the close: both rows are still queued then.
                        "openai.proxy.ledger.flush-interval=1h",
                        "openai.proxy.ledger.batch-size=1000")
                .run();
        int port = ((WebServerApplicationContext) context).getWebServer().getPort();
        HttpClient http = HttpClient.newHttpClient();
        for (int i = 0; i < 2; i++) {
            HttpResponse<String> r = http.send(
                    HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/chat/completions"))
                            .header("Content-Type", "application/json")
                            .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"gpt-4o-mini\",\"messages\":"
                                    + "[{\"role\":\"user\",\"content\":\"Hi\"}]}"))
                            .build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        }
        Thread.sleep(300); // an answer's row is queued once its body has gone out
        try (Connection c = context.getBean(DataSource.class).getConnection()) {
            c.createStatement().execute("DROP TABLE openai_proxy_usage");
        }

        context.close();

        assertThat(output).contains("usage ledger: a batch of 2 records could not be written; lost");
    }
}
