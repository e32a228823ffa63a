package io.github.openaiproxy.examples.springboot;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.demo.DemoUpstream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.context.ApplicationContext;

/**
 * A missing key is a configuration error, never a reason to start the demo: a deployment whose secret did
 * not load must not quietly answer canned replies.
 */
@SpringBootTest(
        webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = {
            "openai.proxy.api-key=",
            "openai.proxy.base-url=",
            "spring.datasource.url=jdbc:h2:mem:no-key-tests;DB_CLOSE_DELAY=-1"
        })
class NoKeyApplicationTests {
    @LocalServerPort
    int port;

    @Autowired
    ApplicationContext context;

    final HttpClient http = HttpClient.newHttpClient();

    @Test
    void aBlankKeyDoesNotStartTheDemo() throws Exception {
        assertThat(context.getBeanProvider(DemoUpstream.class).getIfAvailable()).isNull();

        HttpResponse<String> r = http.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/"))
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(
                                "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"))
                        .build(),
                HttpResponse.BodyHandlers.ofString());

        assertThat(r.statusCode()).isEqualTo(500);
        assertThat(r.body()).contains("Configuration Error").doesNotContain("[demo]");
        assertThat(r.headers().firstValue(DemoModeConfiguration.HEADER)).isEmpty();
    }

    @Test
    void itListensOnThisMachineOnlyUnlessHostSaysOtherwise() {
        // It spends the key for whoever reaches it: like the standalone server, loopback by default.
        assertThat(context.getEnvironment().getProperty("server.address")).isEqualTo("127.0.0.1");
    }
}
