package io.github.openaiproxy.servlet;

import static com.github.tomakehurst.wiremock.client.WireMock.anyRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.testing.Upstream;
import io.github.openaiproxy.servlet.support.Http;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.URI;
import java.net.http.HttpResponse;
import org.apache.catalina.authenticator.BasicAuthenticator;
import org.apache.catalina.realm.NullRealm;
import org.apache.tomcat.util.descriptor.web.LoginConfig;
import org.apache.tomcat.util.descriptor.web.SecurityCollection;
import org.apache.tomcat.util.descriptor.web.SecurityConstraint;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Methods are case-sensitive (RFC 9110): a host that protects the proxy's {@code POST} with a container security
 * constraint is not gone around by {@code post}, which the container lets through and the proxy does not serve.
 */
class MethodCaseHttpTest {
    @RegisterExtension
    static WireMockExtension upstream = Upstream.extension();

    private TomcatProxy proxy;

    @AfterEach
    void stop() {
        if (proxy != null) {
            proxy.close();
        }
    }

    @Test
    void aLowerCaseMethodIsNotPostAndDoesNotSlipPastAPostOnlyConstraint() {
        upstream.stubFor(post("/v1/chat/completions").willReturn(okJson("{\"ok\":true}")));
        ProxyEngine engine =
                ProxyEngine.builder(Upstream.config(upstream).build()).build();
        proxy = TomcatProxy.servlet(engine, context -> {
            context.setRealm(new NullRealm());
            LoginConfig login = new LoginConfig();
            login.setAuthMethod("BASIC");
            context.setLoginConfig(login);
            context.getPipeline().addValve(new BasicAuthenticator());
            SecurityConstraint constraint = new SecurityConstraint();
            constraint.addAuthRole("users");
            SecurityCollection posts = new SecurityCollection();
            posts.addPattern("/*");
            posts.addMethod("POST");
            constraint.addCollection(posts);
            context.addConstraint(constraint);
        });
        URI uri = URI.create("http://127.0.0.1:" + proxy.port() + "/v1/chat/completions");
        String chat = "{\"model\":\"gpt-4o-mini\",\"messages\":[]}";

        HttpResponse<String> upper = Http.call("POST", uri, chat, "Content-Type", "application/json");
        HttpResponse<String> lower = Http.call("post", uri, chat, "Content-Type", "application/json");

        assertThat(upper.statusCode()).isEqualTo(401); // the container's constraint
        assertThat(lower.statusCode()).as(lower.body()).isEqualTo(405);
        assertThat(lower.headers().firstValue("Allow"))
                .hasValueSatisfying(allow -> assertThat(allow).contains("POST"));
        assertThat(upstream.findAll(anyRequestedFor(anyUrl()))).isEmpty();
    }
}
