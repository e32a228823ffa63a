package io.github.openaiproxy.spring.web;

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
 * The proxy's secrets in Actuator's {@code /actuator/env} and {@code /actuator/configprops}, over real HTTP, with
 * {@code show-values=always} (as an operator sets it to read the configuration, or {@code when-authorized}, which
 * shows it to every logged-in user by default). Spring Boot 3 and 4 no longer mask values by their keys' names:
 * only {@code SanitizingFunction} beans do, so the starter's masks the server key (and the
 * {@code OPENAI_API_KEY} its placeholder reads), the named upstreams' keys, the Redis URL (which may carry a
 * password) and the admin tokens' and proxy keys' hashes, under whatever name Spring's relaxed binding reads them.
 */
@SpringBootTest(
        classes = HostApplication.class,
        webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = {
            "OPENAI_API_KEY=sk-env-secret-1",
            "openai.proxy.api-key=${OPENAI_API_KEY:}",
            "OPENAI_PROXY_APIKEY=sk-env-secret-2",
            "openai.proxy.upstreams.azure-east.kind=azure",
            "openai.proxy.upstreams.azure-east.base-url=https://east.example",
            "openai.proxy.upstreams.azure-east.api-version=2024-10-21",
            "openai.proxy.upstreams.azure-east.keys=upstream-secret-1,upstream-secret-2",
            "OPENAI_PROXY_UPSTREAMS_LOCAL_KEYS=upstream-secret-3",
            // An upstream's name may be digits only, like a list index.
            "openai.proxy.upstreams.2.kind=compatible",
            "openai.proxy.upstreams.2.base-url=http://127.0.0.1:2",
            "openai.proxy.upstreams.2.keys=upstream-secret-4",
            // Core's table marks the extra headers secret: they may carry a gateway's key.
            "openai.proxy.upstreams.azure-east.headers=X-Portkey-Api-Key=header-secret-1",
            // The raw JSON is shown besides the properties parsed from it.
            "spring.application.json={\"openai\":{\"proxy\":{\"upstreams\":{\"json\":{\"kind\":\"compatible\","
                    + "\"base-url\":\"http://127.0.0.1:3\",\"keys\":\"json-secret-1\"}}}}}",
            // A JVM option or program argument is shown in the variable (or sun.java.command) that carries it.
            "JAVA_TOOL_OPTIONS=-Xss2m -Dopenai.proxy.api-key=opt-secret-1 --openai.proxy.admin.tokens=opt-secret-2",
            "openai.proxy.images.s3.bucket=not-a-secret-bucket",
            "openai.proxy.limits.redis-url=redis://default:redis-secret@127.0.0.1:1",
            "openai.proxy.admin.enabled=true",
            "openai.proxy.admin.tokens=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "openai.proxy.access.keys=bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb:default:ci",
            "openai.proxy.chat.model=gpt-4o-mini",
            "management.endpoints.web.exposure.include=env,configprops,health,conditions,beans,metrics,info,mappings,startup",
            "management.endpoint.health.show-details=always",
            "management.endpoint.health.show-components=always",
            "management.endpoint.env.show-values=always",
            "management.endpoint.configprops.show-values=always"
        })
class ActuatorSecretsIntegrationTests {
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
                // The other settings stay readable: the mask is for secrets only.
                .contains("gpt-4o-mini")
                .contains("https://east.example")
                .contains("not-a-secret-bucket")
                .doesNotContain("sk-env-secret")
                .doesNotContain("upstream-secret")
                .doesNotContain("redis-secret")
                .doesNotContain("aaaaaaaaaaaaaaaa")
                .doesNotContain("bbbbbbbbbbbbbbbb")
                .doesNotContain("header-secret")
                .doesNotContain("json-secret")
                .doesNotContain("opt-secret");
    }

    @org.junit.jupiter.api.Test
    void aCommandLineKeepsWhatIsNotTheProxysSecret() throws Exception {
        HttpResponse<String> r = HttpClient.newHttpClient()
                .send(
                        HttpRequest.newBuilder(
                                        URI.create("http://127.0.0.1:" + port + "/actuator/env/JAVA_TOOL_OPTIONS"))
                                .build(),
                        HttpResponse.BodyHandlers.ofString());

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body())
                .contains("-Xss2m -Dopenai.proxy.api-key=****** --openai.proxy.admin.tokens=******")
                .doesNotContain("opt-secret");
    }

    @ParameterizedTest
    @ValueSource(strings = {"/actuator/health", "/actuator/conditions", "/actuator/beans", "/actuator/mappings"})
    void otherEndpointsShowNoSecretEither(String endpoint) throws Exception {
        HttpResponse<String> r = HttpClient.newHttpClient()
                .send(
                        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + endpoint))
                                .build(),
                        HttpResponse.BodyHandlers.ofString());

        assertThat(r.statusCode()).as(r.body()).isIn(200, 503);
        assertThat(r.body())
                .doesNotContain("sk-env-secret")
                .doesNotContain("upstream-secret")
                .doesNotContain("redis-secret")
                .doesNotContain("aaaaaaaaaaaaaaaa")
                .doesNotContain("bbbbbbbbbbbbbbbb")
                .doesNotContain("header-secret")
                .doesNotContain("json-secret")
                .doesNotContain("opt-secret");
    }
}
