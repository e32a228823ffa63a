package io.github.openaiproxy.spring.web;

import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.WireMockServer;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.AfterAll;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * The client address the proxy sees in a Spring Boot application, as README's "Client addresses" tells it, told by
 * the anonymous policy's per-address limit (one request a minute): a second call from the same address is 429, one
 * from another address is not. Each subclass is one {@code server.forward-headers-strategy} setting; every call comes
 * from 127.0.0.1, a private address for Tomcat's {@code RemoteIpValve}.
 */
abstract class ForwardedClientAddressKit {
    /** One per test class (each has its own application), started with the class's application. */
    static WireMockServer upstream;

    static final String CHAT = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

    @LocalServerPort
    int port;

    @DynamicPropertySource
    static void upstream(DynamicPropertyRegistry registry) {
        if (upstream == null || !upstream.isRunning()) {
            upstream = Upstream.start();
        }
        WireMockServer server = upstream;
        registry.add("openai.proxy.base-url", () -> "http://127.0.0.1:" + server.port());
        registry.add("openai.proxy.api-key", () -> Upstream.KEY);
        registry.add("openai.proxy.policies.anonymous.requests-per-minute", () -> "1");
    }

    @AfterAll
    static void stopUpstream() {
        upstream.stop();
    }

    /** The status of a chat call that says it is forwarded for {@code forwardedFor}. */
    int chatFor(String forwardedFor) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/chat/completions"))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(CHAT));
        if (forwardedFor != null) {
            b.header("X-Forwarded-For", forwardedFor);
        }
        HttpResponse<String> r = HttpClient.newHttpClient().send(b.build(), HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as(r.body()).isIn(200, 429);
        return r.statusCode();
    }
}
