package io.github.openaiproxy.core;

import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static io.github.openaiproxy.core.EngineFixture.CHAT_COMPLETION;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.openaiproxy.core.access.AccessConfig;
import io.github.openaiproxy.core.access.AuditLog;
import io.github.openaiproxy.core.access.InMemoryPolicyStore;
import io.github.openaiproxy.core.access.InMemoryProxyKeyStore;
import io.github.openaiproxy.core.access.Policy;
import io.github.openaiproxy.core.access.ProxyKeys;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.testing.Answer;
import io.github.openaiproxy.testsupport.WireMockUpstream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A change the admin API makes to a key takes effect on this instance with the very next request, as the README
 * promises ("refused from now on", "the old secret stops working"), even though the key was just used and so sits
 * in the key cache: only a change made by another instance may take the cache's few seconds.
 */
class ProxyEngineAdminKeyChangesTest {
    @RegisterExtension
    static final WireMockUpstream upstream = new WireMockUpstream();

    private static final String TOKEN = "admin-token-0123456789abcdef0123456789";
    private static final String CHAT = "{\"model\":\"gpt-4o-mini\",\"messages\":[]}";

    private final InMemoryPolicyStore policies = new InMemoryPolicyStore();
    private ProxyEngine engine;

    @BeforeEach
    void start() {
        upstream.server().stubFor(post("/v1/chat/completions").willReturn(okJson(CHAT_COMPLETION)));
        AccessConfig access = AccessConfig.DEFAULTS
                .withAnonymous(AccessConfig.Anonymous.DENY)
                .withAdmin(new AccessConfig.Admin(true, "/admin", List.of(ProxyKeys.hash(TOKEN)), null));
        engine = ProxyEngine.builder(
                        EngineFixture.config(upstream.baseUrl()).access(access).build())
                .proxyKeys(new InMemoryProxyKeyStore())
                .policyStore(policies)
                .auditLog(AuditLog.inMemory())
                .build();
    }

    @AfterEach
    void stop() {
        engine.close();
    }

    @Test
    void aRevokedKeyIsRefusedByTheNextRequest() {
        JsonNode created = admin("POST", "/admin/keys", "{\"name\":\"leaked\"}").json();
        String secret = created.get("key").asText();
        assertThat(chat(secret).status()).isEqualTo(200); // the key is now in the cache

        assertThat(admin("POST", "/admin/keys/" + created.get("id").asText() + "/revoke", null)
                        .status())
                .isEqualTo(200);

        assertThat(chat(secret).status()).as("revoked: refused from now on").isEqualTo(401);
    }

    @Test
    void aRotatedKeysOldSecretIsRefusedByTheNextRequest() {
        JsonNode created = admin("POST", "/admin/keys", "{\"name\":\"leaked\"}").json();
        String old = created.get("key").asText();
        assertThat(chat(old).status()).isEqualTo(200);

        Answer rotated = admin("POST", "/admin/keys/" + created.get("id").asText() + "/rotate", null);
        assertThat(rotated.status()).isEqualTo(200);

        assertThat(chat(old).status()).as("the old secret stops working").isEqualTo(401);
        assertThat(chat(rotated.json().get("key").asText()).status()).isEqualTo(200);
    }

    @Test
    void aKeyMovedToAStricterPolicyIsUnderItByTheNextRequest() {
        policies.save(new Policy(
                "models-only",
                List.of("models"),
                List.of(),
                null,
                null,
                Policy.OverCap.CLAMP,
                List.of(),
                List.of(),
                List.of(),
                Policy.Quotas.NONE));
        JsonNode created = admin("POST", "/admin/keys", "{\"name\":\"ci\"}").json();
        String secret = created.get("key").asText();
        assertThat(chat(secret).status()).isEqualTo(200);

        assertThat(admin("PATCH", "/admin/keys/" + created.get("id").asText(), "{\"policy\":\"models-only\"}")
                        .status())
                .isEqualTo(200);

        Answer refused = chat(secret);
        assertThat(refused.status()).as("the key's new policy applies").isEqualTo(403);
        assertThat(refused.text()).contains("route_not_allowed");
    }

    private Answer chat(String key) {
        return EngineFixture.send(
                engine, EngineFixture.post("/v1/chat/completions", CHAT).header("Authorization", "Bearer " + key));
    }

    private Answer admin(String method, String path, String body) {
        ProxyRequest.Builder b = ProxyRequest.builder(method, path).header("Authorization", "Bearer " + TOKEN);
        if (body != null) {
            b.header("Content-Type", "application/json").body(body.getBytes(StandardCharsets.UTF_8));
        }
        Answer a = EngineFixture.send(engine, b);
        assertThat(a.status()).as(method + " " + path + ": " + a.text()).isIn(200, 201);
        return a;
    }
}
