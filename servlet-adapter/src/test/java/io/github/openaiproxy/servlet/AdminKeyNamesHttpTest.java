package io.github.openaiproxy.servlet;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.access.AccessConfig;
import io.github.openaiproxy.core.access.ProxyKeys;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.servlet.support.RawHttp;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Key names and owners over real HTTP: a character that a listing or a log line would not show as written (a
 * bidirectional override that makes a name read backwards, a zero-width space, a tag character) is a 400 naming
 * the field, while names in any script, with emoji and the joiners they need, are kept as written.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class AdminKeyNamesHttpTest {
    static final String TOKEN = "admin-token-for-name-tests-0123456789";
    static final ObjectMapper JSON = new ObjectMapper();

    TomcatProxy proxy;

    @BeforeAll
    void start() {
        AccessConfig access = AccessConfig.DEFAULTS.withAdmin(
                new AccessConfig.Admin(true, "/admin", List.of(ProxyKeys.hash(TOKEN)), null));
        proxy = TomcatProxy.servlet(ProxyConfig.builder()
                .apiKey("sk-server")
                .upstream(UpstreamConfig.defaults().withBaseUrl(URI.create("http://127.0.0.1:9")))
                .access(access)
                .build());
    }

    @AfterAll
    void stop() {
        proxy.close();
    }

    @Test
    void invisibleAndReorderingCharactersAre400NamingTheField() throws Exception {
        String[] hidden = {
            "\u202E", // right-to-left override: "invoice" RLO "fdp.exe" reads "invoiceexe.pdf"
            "\u202D", // left-to-right override
            "\u2066", // left-to-right isolate
            "\u200F", // right-to-left mark
            "\u061C", // Arabic letter mark
            "\u200B", // zero-width space
            "\uFEFF", // zero-width no-break space
            "\u2028", // line separator
            new String(Character.toChars(0xE0041)), // tag latin capital letter A
        };
        for (String field : new String[] {"name", "owner"}) {
            for (String h : hidden) {
                ObjectNode body = JSON.createObjectNode().put("name", "ci");
                body.put(field, "invoice" + h + "fdp.exe");
                RawHttp.Response r = post(body);
                String what = field + " with U+" + Integer.toHexString(h.codePointAt(0));
                assertThat(r.status()).as(what + ": " + r.bodyText()).isEqualTo(400);
                JsonNode error = JSON.readTree(r.bodyText()).get("error");
                assertThat(error.get("param").asText()).as(what).isEqualTo(field);
                assertThat(error.get("code").asText()).as(what).isEqualTo("invalid_request");
            }
        }
        assertThat(JSON.readTree(get("/admin/keys").bodyText()).get("data").toString())
                .as("no key was created")
                .doesNotContain("invoice");
    }

    @Test
    void namesInAnyScriptWithEmojiAndJoinersAreKeptAsWritten() throws Exception {
        String[] names = {
            "Zoë's CI 🚀",
            "日本語のキー",
            "مفتاح الاختبار",
            "می\u200Cخواهم", // Persian: the zero-width non-joiner is part of the word
            "\uD83D\uDC69\u200D\uD83D\uDCBB dev", // woman technologist: a zero-width joiner sequence
            "נתונים (ביקורת)",
        };
        for (String name : names) {
            RawHttp.Response r = post(JSON.createObjectNode().put("name", name).put("owner", name));
            assertThat(r.status()).as(name + ": " + r.bodyText()).isEqualTo(201);
            JsonNode created = JSON.readTree(r.bodyText());
            assertThat(created.get("name").asText()).isEqualTo(name);
            JsonNode listed = JSON.readTree(
                    get("/admin/keys/" + created.get("id").asText()).bodyText());
            assertThat(listed.get("name").asText()).isEqualTo(name);
            assertThat(listed.get("owner").asText()).isEqualTo(name);
        }
    }

    RawHttp.Response post(JsonNode body) throws Exception {
        return RawHttp.exchange(
                proxy.port(),
                "POST /admin/keys HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        + "Authorization: Bearer " + TOKEN + "\r\nConnection: close\r\n",
                // Non-ASCII escaped, as many clients send it: the proxy reads the JSON, not the bytes.
                JSON.writer()
                        .with(com.fasterxml.jackson.core.json.JsonWriteFeature.ESCAPE_NON_ASCII)
                        .writeValueAsString(body)
                        .getBytes(StandardCharsets.UTF_8));
    }

    RawHttp.Response get(String target) {
        return RawHttp.exchange(
                proxy.port(),
                "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + TOKEN
                        + "\r\nConnection: close\r\n",
                new byte[0]);
    }
}
