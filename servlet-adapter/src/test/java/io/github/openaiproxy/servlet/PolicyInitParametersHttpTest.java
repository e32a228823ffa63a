package io.github.openaiproxy.servlet;

import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static io.github.openaiproxy.core.testing.ProxyAssertions.assertOpenAiError;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import io.github.openaiproxy.core.testing.Upstream;
import io.github.openaiproxy.servlet.support.Http;
import java.io.File;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
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
 * Policies declared as servlet init parameters ({@code policies.<name>.<rule>}, found by the parameters'
 * names) apply over real HTTP: the servlet builds its engine from them, and anonymous callers get the
 * {@code anonymous} policy.
 */
class PolicyInitParametersHttpTest {
    @RegisterExtension
    static WireMockExtension upstream = Upstream.extension();

    private static Tomcat tomcat;
    private static File baseDir;

    @BeforeAll
    static void start() throws Exception {
        baseDir = Files.createTempDirectory("policy-http-test").toFile();
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
        w.addInitParameter("policies.anonymous.routes", "chat");
        w.addInitParameter("policies.anonymous.models", "gpt-4o-mini");
        w.addInitParameter("policies.anonymous.max-tokens", "10");
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
    void aModelOutsideTheAnonymousPolicyIs403WithNoUpstreamCall() {
        HttpResponse<String> r = Http.postJson(uri("/v1/chat/completions"), "{\"model\":\"gpt-4o\",\"messages\":[]}");
        assertOpenAiError(r, 403, "permission_error", "model_not_allowed");
        assertOpenAiError(
                Http.postJson(uri("/v1/embeddings"), "{\"model\":\"gpt-4o-mini\",\"input\":\"x\"}"),
                403,
                "permission_error",
                "route_not_allowed");
        Upstream.assertNoCalls(upstream);
    }

    @Test
    void aClampedBodyReachesTheUpstreamWithItsOwnLength() throws Exception {
        HttpResponse<String> r = Http.postJson(
                uri("/v1/chat/completions"), "{\"model\":\"gpt-4o-mini\",\"messages\":[],\"max_tokens\":5000}");
        assertThat(r.statusCode()).isEqualTo(200);
        LoggedRequest up = Upstream.onlyRequest(upstream);
        assertThat(new ObjectMapper()
                        .readTree(up.getBodyAsString())
                        .path("max_tokens")
                        .asInt())
                .isEqualTo(10);
        assertThat(up.getHeader("Content-Length")).isEqualTo(Integer.toString(up.getBody().length));
    }

    @Test
    void aRefusedInitParameterNamesTheKeyAndTheValue() {
        Map<String, String> init = Map.of("policies.free.max-tokens", "many");
        assertThatThrownBy(() -> InitParameters.toConfig(init::get, () -> List.copyOf(init.keySet())))
                .hasMessage("Invalid value 'many' for setting 'policies.free.max-tokens': not a whole number");
    }
}
