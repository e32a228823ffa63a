package io.github.openaiproxy.spring.boot3;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;

/**
 * The proxy's secrets in {@code /actuator/env} and {@code /actuator/configprops} of a Spring Boot 3.5 application,
 * over real HTTP, with {@code show-values=always}: masked under every spelling, the other settings readable.
 */
@SpringBootTest(
        classes = SpringBoot3ApplicationTests.App.class,
        webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = {
            "OPENAI_API_KEY=sk-boot3-env-secret",
            "openai.proxy.api-key=${OPENAI_API_KEY:}",
            "openai.proxy.upstreams.2.kind=compatible",
            "openai.proxy.upstreams.2.base-url=http://127.0.0.1:2",
            "openai.proxy.upstreams.2.keys=boot3-upstream-secret",
            "OPENAI_PROXY_UPSTREAMS_2_HEADERS=X-Gateway-Key=boot3-header-secret",
            "openai.proxy.limits.redis-url=redis://default:boot3-redis-secret@127.0.0.1:1",
            "spring.application.json={\"openai.proxy.access.keys\":"
                    + "\"cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc:default:ci\"}",
            "JAVA_TOOL_OPTIONS=-Dopenai.proxy.admin.tokens=boot3-opt-secret",
            "openai.proxy.chat.model=gpt-4o-mini",
            "management.endpoints.web.exposure.include=env,configprops",
            "management.endpoint.env.show-values=always",
            "management.endpoint.configprops.show-values=always"
        })
class SpringBoot3ActuatorSecretsTests {
    @LocalServerPort
    int port;

    @ParameterizedTest
    @ValueSource(strings = {"/actuator/env", "/actuator/configprops"})
    void noSecretOfTheProxysIsShown(String endpoint) throws Exception {
        HttpResponse<String> r = HttpClient.newHttpClient()
                .send(
                        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + endpoint))
                                .build(),
                        HttpResponse.BodyHandlers.ofString());

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body())
                .contains("gpt-4o-mini")
                .doesNotContain("boot3-env-secret")
                .doesNotContain("boot3-upstream-secret")
                .doesNotContain("boot3-header-secret")
                .doesNotContain("boot3-redis-secret")
                .doesNotContain("cccccccccccccccc")
                .doesNotContain("boot3-opt-secret");
    }
}
