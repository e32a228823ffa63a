package io.github.openaiproxy.spring.web;

import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.WireMockServer;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.session.SessionStore;
import io.github.openaiproxy.graphql.GraphQlRoute;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.context.ApplicationContext;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RestController;

/**
 * An application with its own {@code POST /sessions} next to the proxy at {@code /}: with
 * {@code openai.proxy.sessions.enabled=false} (and GraphQL off) the filter leaves those paths to it.
 */
@SpringBootTest(
        classes = {HostApplication.class, SessionsAndGraphQlDisabledIntegrationTests.OwnSessions.class},
        webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = {
            "openai.proxy.api-key=" + Upstream.KEY,
            "openai.proxy.sessions.enabled=false",
            "openai.proxy.graphql.enabled=false"
        })
class SessionsAndGraphQlDisabledIntegrationTests {
    static final WireMockServer upstream = Upstream.start();

    @RestController
    static class OwnSessions {
        @PostMapping("/sessions")
        String create() {
            return "the application's own sessions";
        }
    }

    @LocalServerPort
    int port;

    @Autowired
    ApplicationContext context;

    final HttpClient http = HttpClient.newHttpClient();

    @DynamicPropertySource
    static void upstream(DynamicPropertyRegistry registry) {
        registry.add("openai.proxy.base-url", () -> "http://127.0.0.1:" + upstream.port());
    }

    @AfterAll
    static void stopUpstream() {
        upstream.stop();
    }

    HttpResponse<String> post(String path, String json) throws Exception {
        return http.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(json))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void theApplicationKeepsItsOwnSessionsRoute() throws Exception {
        HttpResponse<String> r = post("/sessions", "{}");
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).isEqualTo("the application's own sessions");
        assertThat(context.getBeanProvider(SessionStore.class).getIfAvailable()).isNull();
    }

    @Test
    void theProxyRefusesASessionIdAndStillChats() throws Exception {
        HttpResponse<String> refused =
                post("/", "{\"sessionId\":\"ses_x\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}");
        assertThat(refused.statusCode()).isEqualTo(400);
        assertThat(refused.body()).contains("Sessions are disabled");

        HttpResponse<String> chat = post("/", "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}");
        assertThat(chat.statusCode()).isEqualTo(200);
    }

    @Test
    void graphQlIsNotMounted() throws Exception {
        assertThat(context.getBeanProvider(GraphQlRoute.class).getIfAvailable()).isNull();
        assertThat(context.getBean(ProxyEngine.class).hasRoute("/graphql")).isFalse();
        HttpResponse<String> r = post("/graphql", "{\"query\":\"{ __typename }\"}");
        assertThat(r.statusCode()).as("the application's 404").isEqualTo(404);
        assertThat(r.body()).doesNotContain("errors");
    }
}
