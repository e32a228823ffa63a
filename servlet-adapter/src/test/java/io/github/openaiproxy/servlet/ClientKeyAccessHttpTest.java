package io.github.openaiproxy.servlet;

import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static io.github.openaiproxy.core.testing.ProxyAssertions.assertOpenAiError;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import io.github.openaiproxy.core.access.ProxyKeys;
import io.github.openaiproxy.core.testing.Upstream;
import io.github.openaiproxy.servlet.support.Http;
import java.io.File;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import org.apache.catalina.Context;
import org.apache.catalina.Wrapper;
import org.apache.catalina.connector.Connector;
import org.apache.catalina.startup.Tomcat;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A caller's own OpenAI key ({@code x-openai-key}, with {@code allow-client-key}) changes only the key the upstream
 * sees: over real HTTP, it is no credential of the proxy (401 with {@code access.anonymous=deny}), and a caller
 * who has one still runs under its policy's model rule and rate limit.
 */
class ClientKeyAccessHttpTest {
    @RegisterExtension
    static WireMockExtension upstream = Upstream.extension();

    private static final String CLIENT_KEY = "sk-client-own-key-1234567890";
    private static final ProxyKeys.NewKey KEY = ProxyKeys.generate();

    private static Tomcat tomcat;
    private static File baseDir;

    @BeforeAll
    static void start() throws Exception {
        baseDir = Files.createTempDirectory("client-key-access-test").toFile();
        tomcat = new Tomcat();
        tomcat.setBaseDir(baseDir.getAbsolutePath());
        Connector connector = new Connector("HTTP/1.1");
        connector.setPort(0);
        connector.setProperty("address", "127.0.0.1");
        tomcat.setConnector(connector);
        Context context = tomcat.addContext("", baseDir.getAbsolutePath());
        Wrapper w = Tomcat.addServlet(context, "openai-proxy", new OpenAiProxyServlet());
        w.setAsyncSupported(true);
        w.addInitParameter("api-key", Upstream.SERVER_KEY);
        w.addInitParameter("base-url", upstream.baseUrl());
        w.addInitParameter("allow-client-key", "true");
        w.addInitParameter("access.anonymous", "deny");
        w.addInitParameter("access.keys", KEY.hash() + ":team:ci");
        w.addInitParameter("policies.team.models", "gpt-4o-mini");
        w.addInitParameter("policies.team.requests-per-minute", "2");
        w.setLoadOnStartup(1);
        context.addServletMappingDecoded("/", "openai-proxy");
        tomcat.start();
    }

    @AfterAll
    static void stop() throws Exception {
        tomcat.stop();
        tomcat.destroy();
    }

    @BeforeEach
    void answer() {
        upstream.stubFor(any(anyUrl()).willReturn(okJson("{\"id\":\"chatcmpl-1\",\"choices\":[]}")));
    }

    private static URI uri(String path) {
        return URI.create("http://127.0.0.1:" + tomcat.getConnector().getLocalPort() + path);
    }

    @Test
    void anOwnKeyNeitherIdentifiesNorLiftsThePolicy() {
        String mini = "{\"model\":\"gpt-4o-mini\",\"messages\":[]}";
        assertOpenAiError(
                Http.postJson(uri("/v1/chat/completions"), mini, "x-openai-key", CLIENT_KEY),
                401,
                "invalid_request_error",
                "invalid_api_key");
        assertOpenAiError(
                Http.postJson(
                        uri("/v1/chat/completions"),
                        "{\"model\":\"gpt-4o\",\"messages\":[]}",
                        "x-openai-key",
                        CLIENT_KEY,
                        "Authorization",
                        "Bearer " + KEY.secret()),
                403,
                "permission_error",
                "model_not_allowed");
        Upstream.assertNoCalls(upstream);

        for (int i = 0; i < 2; i++) {
            HttpResponse<String> ok = Http.postJson(
                    uri("/v1/chat/completions"),
                    mini,
                    "x-openai-key",
                    CLIENT_KEY,
                    "Authorization",
                    "Bearer " + KEY.secret());
            assertThat(ok.statusCode()).isEqualTo(200);
        }
        HttpResponse<String> third = Http.postJson(
                uri("/v1/chat/completions"),
                mini,
                "x-openai-key",
                CLIENT_KEY,
                "Authorization",
                "Bearer " + KEY.secret());
        assertThat(third.statusCode())
                .as("the key's requests-per-minute, own key or not")
                .isEqualTo(429);

        LoggedRequest sent = upstream.getAllServeEvents().get(0).getRequest();
        assertThat(upstream.getAllServeEvents()).hasSize(2);
        assertThat(sent.getHeader("Authorization")).isEqualTo("Bearer " + CLIENT_KEY);
        assertThat(sent.getAllHeaderKeys()).noneMatch(h -> h.equalsIgnoreCase("x-openai-key"));
    }
}
