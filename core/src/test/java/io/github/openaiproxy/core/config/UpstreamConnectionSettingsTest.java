package io.github.openaiproxy.core.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.openaiproxy.core.upstream.NamedUpstream;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.core.upstream.UpstreamConnection;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@code upstreams.<name>.headers|connect-timeout|timeout|http-version|organization|project|auth|azure-api}: bound from
 * text and
 * the environment, and each mistake refused at start-up naming its setting, never a header's value.
 */
class UpstreamConnectionSettingsTest {
    private static Map<String, String> three() {
        Map<String, String> m = new HashMap<>();
        m.put("upstreams.oa.kind", "openai");
        m.put("upstreams.oa.keys", "sk-oa");
        m.put("upstreams.az.kind", "azure");
        m.put("upstreams.az.base-url", "https://example.openai.azure.com");
        m.put("upstreams.az.keys", "az-key");
        m.put("upstreams.az.api-version", "2024-10-21");
        m.put("upstreams.local.kind", "compatible");
        m.put("upstreams.local.base-url", "http://127.0.0.1:8000/v1");
        m.put("upstreams.local.models", "llama*");
        return m;
    }

    private static void refused(Map<String, String> m, String key, String... notInMessage) {
        assertThatThrownBy(() -> ProxySettings.from(m).toConfig())
                .isInstanceOfSatisfying(
                        InvalidSettingException.class, e -> assertThat(e.key()).isEqualTo(key))
                .message()
                .contains(key)
                .doesNotContain(notInMessage.length == 0 ? "\u0000" : notInMessage[0]);
    }

    @Test
    void everyConnectionSettingBindsWithItsDefaults() {
        NamedUpstream plain =
                ProxySettings.from(three()).toConfig().upstreams().get("oa").orElseThrow();
        assertThat(plain.connection()).isEqualTo(UpstreamConnection.DEFAULTS);

        Map<String, String> m = three();
        m.put("upstreams.oa.headers", "X-Team=search, X-Trace-Tag=a=b");
        m.put("upstreams.oa.connect-timeout", "2s");
        m.put("upstreams.oa.timeout", "500ms");
        m.put("upstreams.oa.organization", "org-123");
        m.put("upstreams.oa.project", "proj_abc");
        m.put("upstreams.local.auth", "header:X-Api-Key");
        m.put("upstreams.local.keys", "local-key");
        m.put("upstreams.az.azure-api", "v1");
        m.remove("upstreams.az.api-version");
        var upstreams = ProxySettings.from(m).toConfig().upstreams();

        UpstreamConnection oa = upstreams.get("oa").orElseThrow().connection();
        assertThat(oa.headers()).containsExactly(Map.entry("X-Team", "search"), Map.entry("X-Trace-Tag", "a=b"));
        assertThat(oa.connectTimeout()).contains(Duration.ofSeconds(2));
        assertThat(oa.timeout()).contains(Duration.ofMillis(500));
        assertThat(oa.organization()).contains("org-123");
        assertThat(oa.project()).contains("proj_abc");
        assertThat(oa.toString()).doesNotContain("search").doesNotContain("org-123");
        assertThat(upstreams.get("local").orElseThrow().connection().auth())
                .isEqualTo(new UpstreamConnection.Auth(UpstreamConnection.Auth.Style.HEADER, "X-Api-Key"));
        assertThat(upstreams.get("az").orElseThrow().connection().azureApi()).isEqualTo(UpstreamConnection.AzureApi.V1);
    }

    @Test
    void theEnvironmentNamesTheNewSettings() {
        Map<String, String> env = Map.of(
                "OPENAI_PROXY_UPSTREAMS_OA_KEYS", "sk-oa",
                "OPENAI_PROXY_UPSTREAMS_OA_HEADERS", "X-Team=search",
                "OPENAI_PROXY_UPSTREAMS_OA_CONNECT_TIMEOUT", "3s",
                "OPENAI_PROXY_UPSTREAMS_OA_TIMEOUT", "40s",
                "OPENAI_PROXY_UPSTREAMS_OA_ORGANIZATION", "org-1",
                "OPENAI_PROXY_UPSTREAMS_OA_PROJECT", "proj-1");
        UpstreamConnection c = ProxySettings.fromEnvironment(env)
                .toConfig()
                .upstreams()
                .get("oa")
                .orElseThrow()
                .connection();
        assertThat(c.headers()).containsEntry("X-Team", "search");
        assertThat(c.connectTimeout()).contains(Duration.ofSeconds(3));
        assertThat(c.timeout()).contains(Duration.ofSeconds(40));
        assertThat(c.organization()).contains("org-1");
        assertThat(c.project()).contains("proj-1");
    }

    @Test
    void credentialAndHopByHopHeadersAreRefusedNamingTheSettingButNotTheValue() {
        for (String header : new String[] {
            "Authorization",
            "api-key",
            "Connection",
            "Transfer-Encoding",
            "Host",
            "Proxy-Authorization",
            "Upgrade",
            "OpenAI-Organization",
            "x-openai-key"
        }) {
            Map<String, String> m = three();
            m.put("upstreams.oa.headers", "X-Ok=1, " + header + "=secret-value-123");
            refused(m, "upstreams.oa.headers", "secret-value-123");
        }
        Map<String, String> malformed = three();
        malformed.put("upstreams.oa.headers", "no-equals-sign");
        refused(malformed, "upstreams.oa.headers");
        Map<String, String> crlf = three();
        crlf.put("upstreams.oa.headers", "X-Evil=a\r\nX-Injected: b");
        refused(crlf, "upstreams.oa.headers", "X-Injected");
        Map<String, String> authHeader = three();
        authHeader.put("upstreams.local.keys", "k");
        authHeader.put("upstreams.local.auth", "header:X-Api-Key");
        authHeader.put("upstreams.local.headers", "x-api-key=override");
        refused(authHeader, "upstreams.local.headers", "override");
    }

    @Test
    void settingsOfAnotherKindAndNonsenseAreRefusedNamingTheSetting() {
        Map<String, String> orgOnAzure = three();
        orgOnAzure.put("upstreams.az.organization", "org-1");
        refused(orgOnAzure, "upstreams.az.organization");
        Map<String, String> projectOnLocal = three();
        projectOnLocal.put("upstreams.local.project", "p");
        refused(projectOnLocal, "upstreams.local.project");
        Map<String, String> authOnOpenai = three();
        authOnOpenai.put("upstreams.oa.auth", "none");
        refused(authOnOpenai, "upstreams.oa.auth");
        Map<String, String> badAuth = three();
        badAuth.put("upstreams.local.auth", "basic");
        refused(badAuth, "upstreams.local.auth");
        Map<String, String> transportAuth = three();
        transportAuth.put("upstreams.local.auth", "header:Host");
        refused(transportAuth, "upstreams.local.auth");
        Map<String, String> noneWithKeys = three();
        noneWithKeys.put("upstreams.local.auth", "none");
        noneWithKeys.put("upstreams.local.keys", "k");
        refused(noneWithKeys, "upstreams.local.auth");
        Map<String, String> headerWithoutKeys = three();
        headerWithoutKeys.put("upstreams.local.auth", "header:X-Api-Key");
        refused(headerWithoutKeys, "upstreams.local.keys");
        Map<String, String> v1OnOpenai = three();
        v1OnOpenai.put("upstreams.oa.azure-api", "v1");
        refused(v1OnOpenai, "upstreams.oa.azure-api");
        Map<String, String> badForm = three();
        badForm.put("upstreams.az.azure-api", "v2");
        refused(badForm, "upstreams.az.azure-api");
        Map<String, String> zero = three();
        zero.put("upstreams.oa.timeout", "0s");
        refused(zero, "upstreams.oa.timeout");
        Map<String, String> negative = three();
        negative.put("upstreams.oa.connect-timeout", "-1s");
        refused(negative, "upstreams.oa.connect-timeout");
        // The deployment form still needs its api-version; v1 does not.
        Map<String, String> noVersion = three();
        noVersion.remove("upstreams.az.api-version");
        refused(noVersion, "upstreams.az.api-version");
    }

    @Test
    void anHttpVersionBindsFromTextAndTheEnvironmentAndABadOneIsRefusedNamingKeyValueAndReason() {
        Map<String, String> m = three();
        m.put("upstream-http-version", "1.1");
        m.put("upstreams.local.http-version", "2");
        m.put("upstreams.az.http-version", "AUTO");
        var upstreams = ProxySettings.from(m).toConfig().upstreams();
        assertThat(upstreams.get("local").orElseThrow().connection().httpVersion())
                .contains(UpstreamConfig.HttpVersion.HTTP_2);
        assertThat(upstreams.get("az").orElseThrow().connection().httpVersion())
                .contains(UpstreamConfig.HttpVersion.AUTO);
        assertThat(upstreams.get("oa").orElseThrow().connection().httpVersion()).isEmpty(); // the proxy's

        UpstreamConnection fromEnv = ProxySettings.fromEnvironment(Map.of(
                        "OPENAI_PROXY_UPSTREAMS_OA_KEYS", "sk-oa", "OPENAI_PROXY_UPSTREAMS_OA_HTTP_VERSION", "1.1"))
                .toConfig()
                .upstreams()
                .get("oa")
                .orElseThrow()
                .connection();
        assertThat(fromEnv.httpVersion()).contains(UpstreamConfig.HttpVersion.HTTP_1_1);

        for (String bad : new String[] {"3", "h2c", "1.0", "HTTP/2"}) {
            Map<String, String> wrong = three();
            wrong.put("upstreams.local.http-version", bad);
            assertThatThrownBy(() -> ProxySettings.from(wrong).toConfig())
                    .isInstanceOfSatisfying(
                            InvalidSettingException.class,
                            e -> assertThat(e.key()).isEqualTo("upstreams.local.http-version"))
                    .message()
                    .contains("upstreams.local.http-version")
                    .contains("'" + bad + "'")
                    .contains("expected auto, 1.1 or 2");
        }
    }
}
