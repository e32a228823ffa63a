package io.github.openaiproxy.spring.web;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.testkit.TestRedis;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * {@code openAiProxyStores} in {@code /actuator/health} over real HTTP: the proxy's Redis limit store (a
 * {@code redis-server} of the test's own, at a URL with a password) is UP while Redis answers and DOWN once it is
 * stopped, within {@code health.timeout}; the details never show the URL or its password.
 */
@SpringBootTest(
        classes = HostApplication.class,
        webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = {
            "openai.proxy.limits.store=redis",
            "openai.proxy.health.cache-time-to-live=0s",
            "openai.proxy.health.timeout=1s",
            "management.endpoints.web.exposure.include=health",
            "management.endpoint.health.show-details=always"
        })
class StoresHealthIntegrationTests {
    private static final String PASSWORD = "s3cret-redis-pass";
    private static TestRedis.Server redis;

    @LocalServerPort
    int port;

    final HttpClient http = HttpClient.newHttpClient();

    @DynamicPropertySource
    static void redis(DynamicPropertyRegistry registry) throws IOException {
        redis = TestRedis.newServer().start();
        // The default user has no password: Redis accepts any with a user name, so the URL can carry one.
        registry.add(
                "openai.proxy.limits.redis-url", () -> "redis://default:" + PASSWORD + "@127.0.0.1:" + redis.port());
    }

    @AfterAll
    static void stopRedis() throws InterruptedException {
        if (redis != null) {
            redis.close();
        }
    }

    private HttpResponse<String> storesHealth() throws Exception {
        return http.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/actuator/health/openAiProxyStores"))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void theRedisLimitStoreIsUpWhileItAnswersAndDownOnceStopped() throws Exception {
        HttpResponse<String> up = storesHealth();
        assertThat(up.statusCode()).as(up.body()).isEqualTo(200);
        assertThat(up.body())
                .contains("\"status\":\"UP\"")
                .contains("\"limits\":{\"kind\":\"redis\",\"status\":\"UP\"")
                .doesNotContain(PASSWORD)
                .doesNotContain(Integer.toString(redis.port()));

        redis.stop();
        long start = System.nanoTime();
        HttpResponse<String> down = storesHealth();

        assertThat(down.statusCode()).as(down.body()).isEqualTo(503);
        assertThat(down.body())
                .contains("\"status\":\"DOWN\"")
                .contains("\"limits\":{\"kind\":\"redis\",\"status\":\"DOWN\",\"error\":")
                .doesNotContain(PASSWORD)
                .doesNotContain(Integer.toString(redis.port()));
        assertThat((System.nanoTime() - start) / 1_000_000)
                .as("bounded by health.timeout")
                .isLessThan(3000);
    }
}
