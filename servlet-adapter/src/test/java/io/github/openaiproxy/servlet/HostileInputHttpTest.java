package io.github.openaiproxy.servlet;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.servlet.support.JettyProxy;
import io.github.openaiproxy.servlet.support.ProxyServer;
import io.github.openaiproxy.servlet.support.RawHttp;
import io.github.openaiproxy.servlet.support.StubUpstream;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.assertj.core.api.SoftAssertions;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A small sample of the hostile-input corpus the proxy was fuzzed with (malformed, deep, huge and mistyped JSON, bad
 * encodings and content types, odd methods and paths, a long query), on Tomcat and on Jetty: each gets a status of the
 * documented set and never a 5xx, a JSON error in the route's shape that echoes no key, and the proxy still answers.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class HostileInputHttpTest {
    /** As long as an OpenAI project key. */
    private static final String KEY = "sk-proj-" + "k".repeat(156);

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Set<Integer> STATUSES = Set.of(200, 400, 404, 405, 413, 415);
    private static final String CHAT =
            "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}";

    private StubUpstream upstream;
    private ProxyServer proxy;

    @AfterEach
    void stop() {
        if (proxy != null) {
            proxy.close();
        }
        if (upstream != null) {
            upstream.close();
        }
    }

    private record Case(String method, String path, String contentType, String extraHeaders, byte[] body) {}

    private static List<Case> corpus() {
        List<byte[]> bodies = new ArrayList<>(List.of(
                bytes(CHAT.substring(0, 20)),
                bytes("[".repeat(100_000)),
                bytes("{\"a\":".repeat(20_000) + "1" + "}".repeat(20_000)),
                bytes("{\"model\":1e999,\"n\":-0,\"temperature\":1e-400,\"messages\":[]}"),
                bytes("{\"model\":\"a\",\"model\":{\"x\":[1]},\"messages\":\"hi\",\"n\":\"2\",\"stream\":\"true\"}"),
                bytes("{\"model\":null,\"messages\":[{\"role\":\"user\",\"content\":\"\\ud800\"}],\"prompt\":[]}"),
                bytes("{\"messages\":[{\"role\":5,\"content\":{\"a\":null}}],\"max_tokens\":\"many\"}"),
                concat(
                        bytes("{\"messages\":\""),
                        new byte[] {(byte) 0xff, (byte) 0xfe, (byte) 0xc3, 0x28, 0},
                        bytes("\"}")),
                concat(new byte[] {(byte) 0xef, (byte) 0xbb, (byte) 0xbf}, bytes(CHAT)),
                CHAT.getBytes(StandardCharsets.UTF_16),
                bytes("null"),
                bytes("")));
        List<Case> cases = new ArrayList<>();
        for (String path : List.of("/", "/v1/chat/completions")) {
            for (byte[] body : bodies) {
                cases.add(new Case("POST", path, "application/json", "", body));
            }
            cases.add(new Case("POST", path, "application/json; charset=utf-16", "", bytes(CHAT)));
            cases.add(new Case("POST", path, "text/plain", "", bytes(CHAT)));
            cases.add(new Case("POST", path, "multipart/form-data", "", bytes(CHAT)));
            cases.add(new Case("POST", path, "application/json", "Content-Encoding: gzip\r\n", bytes(CHAT)));
        }
        cases.add(new Case("POST", "/", "application/json", "", bytes("{\"action\":\"generate-image\",\"prompt\":7}")));
        cases.add(
                new Case("POST", "/", "application/json", "", bytes("{\"prompt\":{\"a\":1},\"n\":\"2\",\"size\":[]}")));
        for (String method : List.of("PATCH", "PROPFIND", "DELETE")) {
            cases.add(new Case(method, "/v1/chat/completions", "application/json", "", bytes(CHAT)));
        }
        for (String path :
                List.of("/v1/chat/completions/", "/v1/chat/completions;jsessionid=x", "/v1/chat/completions%20")) {
            cases.add(new Case("POST", path, "application/json", "", bytes(CHAT)));
        }
        // Under the containers' 8 KB head, but over it once the proxy adds its key: must still reach the upstream.
        cases.add(new Case("GET", "/v1/models?a=" + "b".repeat(8_000), null, "", new byte[0]));
        return cases;
    }

    @ParameterizedTest
    @ValueSource(strings = {"tomcat", "jetty"})
    void hostileRequestsGetDocumentedJsonErrorsAndTheProxyKeepsAnswering(String container) throws Exception {
        upstream = StubUpstream.start(ex -> ex.respond(200, "application/json", bytes("{\"object\":\"list\"}")));
        ProxyConfig config = ProxyConfig.builder()
                .apiKey(KEY)
                .upstream(UpstreamConfig.defaults().withBaseUrl(upstream.baseUrl()))
                .build();
        proxy = container.equals("tomcat") ? TomcatProxy.servlet(config) : JettyProxy.servlet(config, "/*");
        SoftAssertions soft = new SoftAssertions();
        for (Case c : corpus()) {
            String name = c.method() + " "
                    + c.path().substring(0, Math.min(40, c.path().length())) + " " + c.contentType() + " "
                    + c.body().length + " bytes";
            String head = c.method() + " " + c.path() + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                    + (c.contentType() == null ? "" : "Content-Type: " + c.contentType() + "\r\n")
                    + c.extraHeaders()
                    + (c.body().length == 0 && !c.method().equals("GET") ? "Content-Length: 0\r\n" : "");
            RawHttp.Response r = RawHttp.exchange(proxy.port(), head, c.body());
            String text = new String(r.body(), StandardCharsets.UTF_8);
            soft.assertThat(r.status()).as(name).isIn(STATUSES);
            soft.assertThat(text).as(name).doesNotContain(KEY);
            if (r.status() >= 400) {
                JsonNode error = json(r.body()).path("error");
                if (c.path().startsWith("/v1/")) {
                    soft.assertThat(error.path("message").isTextual())
                            .as(name + ": " + text)
                            .isTrue();
                    soft.assertThat(error.has("type") && error.has("param") && error.has("code"))
                            .as(name + ": " + text)
                            .isTrue();
                } else {
                    soft.assertThat(error.isMissingNode())
                            .as(name + ": " + text)
                            .isFalse();
                }
            }
            if (c.path().startsWith("/v1/models")) {
                soft.assertThat(r.status()).as(name + ": " + text).isEqualTo(200);
            }
        }
        soft.assertAll();
        RawHttp.Response after = RawHttp.exchange(
                proxy.port(),
                "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                        + "Content-Type: application/json\r\n",
                bytes(CHAT));
        assertThat(after.status()).isEqualTo(200);
    }

    private static JsonNode json(byte[] body) {
        try {
            return JSON.readTree(body);
        } catch (java.io.IOException notJson) {
            return JSON.missingNode();
        }
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }
}
