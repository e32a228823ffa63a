package io.github.openaiproxy.servlet;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.access.AccessConfig;
import io.github.openaiproxy.core.access.ProxyKeys;
import io.github.openaiproxy.core.internal.Json;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.servlet.support.RawHttp;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.URI;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The admin API's query parameters over real HTTP are percent-decoded as every URL's are: {@code limit=%31} is
 * {@code limit=1}, and an encoded name is the parameter it spells.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class AdminQueryHttpTest {
    static final String TOKEN = "admin-token-for-query-tests-0123456789";

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
        // Two audit entries, so that a limit of 1 shows.
        for (String name : List.of("first", "second")) {
            assertThat(send("POST", "/admin/keys", "{\"name\":\"" + name + "\"}")
                            .status())
                    .isEqualTo(201);
        }
    }

    @AfterAll
    void stop() {
        proxy.close();
    }

    RawHttp.Response send(String method, String target, String body) {
        return RawHttp.exchange(
                proxy.port(),
                method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        + "Authorization: Bearer " + TOKEN + "\r\nConnection: close\r\n",
                body == null ? new byte[0] : body.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    @Test
    void theAuditLimitIsDecoded() {
        RawHttp.Response plain = send("GET", "/admin/audit?limit=1", null);
        RawHttp.Response encoded = send("GET", "/admin/audit?limit=%31", null);
        RawHttp.Response encodedName = send("GET", "/admin/audit?%6Cimit=1", null);
        assertThat(plain.status()).isEqualTo(200);
        assertThat(encoded.status()).as(encoded.bodyText()).isEqualTo(200);
        assertThat(encoded.bodyText()).isEqualTo(plain.bodyText());
        assertThat(encodedName.bodyText()).isEqualTo(plain.bodyText());
        assertThat(plain.bodyText()).contains("key.create").doesNotContain("\"},{\"");
    }

    @Test
    void aBadEncodedLimitIsStillRefused() {
        assertThat(send("GET", "/admin/audit?limit=%39%39%39%39%39", null).status())
                .isEqualTo(400);
        assertThat(send("GET", "/admin/audit?limit=%zz", null).status()).isEqualTo(400);
    }

    /** The usage parameters were decoded already: an encoded name reaches the ledger check, not "unknown". */
    @Test
    void theUsageParametersAreDecoded() {
        RawHttp.Response r = send("GET", "/admin/usage?%62y=model&since=7%64", null);
        assertThat(r.bodyText()).doesNotContain("unknown parameter").contains("ledger_off");
    }

    /** A misspelt or repeated audit parameter is refused, as the usage route's are, not answered with the default. */
    @Test
    void anUnknownOrRepeatedAuditParameterIsRefused() {
        RawHttp.Response misspelt = send("GET", "/admin/audit?limt=1", null);
        assertThat(misspelt.status()).isEqualTo(400);
        assertThat(misspelt.bodyText()).contains("unknown parameter limt").contains("[after, limit]");
        RawHttp.Response twice = send("GET", "/admin/audit?limit=1&limit=1000", null);
        assertThat(twice.status()).isEqualTo(400);
        assertThat(twice.bodyText()).contains("limit is given twice");
    }

    /**
     * The audit listing reads {@code limit} as the keys and usage listings do: blank is the default, spaces around the
     * number are ignored, and a refused one is the same 400 naming {@code limit} in {@code param}.
     */
    @Test
    void theAuditLimitIsReadAsTheOtherListingsRead() throws Exception {
        RawHttp.Response blank = send("GET", "/admin/audit?limit=", null);
        assertThat(blank.status()).as(blank.bodyText()).isEqualTo(200);
        assertThat(blank.bodyText()).isEqualTo(send("GET", "/admin/audit", null).bodyText());
        RawHttp.Response spaced = send("GET", "/admin/audit?limit=%201%20", null);
        assertThat(spaced.status()).as(spaced.bodyText()).isEqualTo(200);
        assertThat(spaced.bodyText())
                .isEqualTo(send("GET", "/admin/audit?limit=1", null).bodyText());
        for (String bad : List.of("0", "1001", "x", "-1")) {
            RawHttp.Response audit = send("GET", "/admin/audit?limit=" + bad, null);
            RawHttp.Response keys = send("GET", "/admin/keys?limit=" + bad, null);
            assertThat(audit.status()).isEqualTo(400);
            assertThat(audit.bodyText()).as(bad).isEqualTo(keys.bodyText());
            JsonNode error = Json.parse(audit.body()).get("error");
            assertThat(error.get("param").asText()).isEqualTo("limit");
            assertThat(error.get("code").asText()).isEqualTo("invalid_request");
            assertThat(error.get("message").asText()).isEqualTo("limit must be an integer from 1 to 1000");
        }
        JsonNode usage = Json.parse(
                        send("GET", "/admin/usage?since=7d&limit=x", null).body())
                .get("error");
        assertThat(usage.get("param").asText()).isEqualTo("limit");
        assertThat(usage.get("code").asText()).isEqualTo("invalid_request");
    }
}
