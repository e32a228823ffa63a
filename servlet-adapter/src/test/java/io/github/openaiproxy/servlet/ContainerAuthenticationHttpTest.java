package io.github.openaiproxy.servlet;

import static com.github.tomakehurst.wiremock.client.WireMock.anyRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.equalTo;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.RequestStep;
import io.github.openaiproxy.core.access.AccessConfig;
import io.github.openaiproxy.core.access.Identity;
import io.github.openaiproxy.core.testing.Upstream;
import io.github.openaiproxy.servlet.support.Http;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.Principal;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.catalina.authenticator.BasicAuthenticator;
import org.apache.catalina.realm.GenericPrincipal;
import org.apache.catalina.realm.RealmBase;
import org.apache.tomcat.util.descriptor.web.LoginConfig;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The servlet container's own authentication (a Tomcat realm with HTTP basic) is the proxy's identity: with
 * {@code access.anonymous=deny}, a request the container authenticated passes, under the policy of the user's
 * role, and one it did not gets the proxy's 401. The credentials never reach the upstream.
 */
class ContainerAuthenticationHttpTest {
    @RegisterExtension
    static WireMockExtension upstream = Upstream.extension();

    private static final String CHAT = "{\"model\":\"gpt-4o-mini\",\"messages\":[]}";

    private final AtomicReference<Identity> seen = new AtomicReference<>();
    private TomcatProxy proxy;

    @BeforeEach
    void start() {
        upstream.stubFor(post("/v1/chat/completions").willReturn(okJson("{\"ok\":true}")));
        AccessConfig access = new AccessConfig(
                AccessConfig.Anonymous.DENY,
                List.of(),
                null,
                Map.of("gold-members", "gold"),
                Map.of("gold", io.github.openaiproxy.core.access.Policy.unrestricted("gold")),
                List.of(),
                AccessConfig.Admin.OFF);
        ProxyEngine engine = ProxyEngine.builder(
                        Upstream.config(upstream).access(access).build())
                .step(RequestStep.Position.BEFORE_UPSTREAM, (ctx, next) -> {
                    seen.set(ctx.identity().orElseThrow());
                    return next.proceed(ctx);
                })
                .build();
        proxy = TomcatProxy.servlet(engine, context -> {
            context.setRealm(new UsersRealm());
            LoginConfig login = new LoginConfig();
            login.setAuthMethod("BASIC");
            login.setRealmName("proxy-test");
            context.setLoginConfig(login);
            // No security constraint: the container authenticates whoever sends credentials, and the proxy
            // decides what an unauthenticated caller may do.
            context.setPreemptiveAuthentication(true);
            context.getPipeline().addValve(new BasicAuthenticator());
        });
    }

    @AfterEach
    void stop() {
        proxy.close();
    }

    @Test
    void aUserTheContainerAuthenticatedPassesUnderItsRolesPolicy() {
        HttpResponse<String> alice = chat("Basic " + basic("alice", "wonderland"));
        assertThat(alice.statusCode()).isEqualTo(200);
        assertThat(seen.get()).isEqualTo(Identity.user("alice", "users"));

        HttpResponse<String> bob = chat("Basic " + basic("bob", "builder"));
        assertThat(bob.statusCode()).isEqualTo(200);
        assertThat(seen.get()).isEqualTo(Identity.user("bob", "gold"));

        upstream.verify(
                2, anyRequestedFor(anyUrl()).withHeader("Authorization", equalTo("Bearer " + Upstream.SERVER_KEY)));
    }

    @Test
    void withoutAnAuthenticatedUserTheProxyAnswers401() {
        for (String authorization : new String[] {null, "Bearer sk-dummy"}) {
            HttpResponse<String> r = chat(authorization);
            assertThat(r.statusCode()).as(String.valueOf(authorization)).isEqualTo(401);
            assertThat(r.body()).contains("\"code\":\"invalid_api_key\"");
        }
        // A wrong password: the container itself refuses it (its own 401 page), before the proxy.
        assertThat(chat("Basic " + basic("alice", "wrong")).statusCode()).isEqualTo(401);
        assertThat(upstream.findAll(anyRequestedFor(anyUrl()))).isEmpty();
    }

    private HttpResponse<String> chat(String authorization) {
        URI uri = URI.create("http://127.0.0.1:" + proxy.port() + "/v1/chat/completions");
        return authorization == null
                ? Http.postJson(uri, CHAT)
                : Http.postJson(uri, CHAT, "Authorization", authorization);
    }

    private static String basic(String user, String password) {
        return Base64.getEncoder().encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
    }

    /** Two users in memory: alice (no role of note) and bob (gold-members). */
    private static final class UsersRealm extends RealmBase {
        private static final Map<String, String> PASSWORDS = Map.of("alice", "wonderland", "bob", "builder");
        private static final Map<String, List<String>> ROLES =
                Map.of("alice", List.of("staff"), "bob", List.of("gold-members"));

        @Override
        protected String getPassword(String username) {
            return PASSWORDS.get(username);
        }

        @Override
        protected Principal getPrincipal(String username) {
            return new GenericPrincipal(username, ROLES.getOrDefault(username, List.of()));
        }
    }
}
