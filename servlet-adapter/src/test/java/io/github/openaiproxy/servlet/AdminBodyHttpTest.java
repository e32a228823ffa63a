package io.github.openaiproxy.servlet;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.access.AccessConfig;
import io.github.openaiproxy.core.access.ProxyKeys;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.servlet.support.RawHttp;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The admin API's request bodies over real HTTP: a caller without an admin credential is refused before its body
 * is read (it cannot make the proxy buffer {@code max-body-size} for a 401), and an admin's body is capped at the
 * admin API's own size, far below {@code max-body-size}, while it is read, not after.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class AdminBodyHttpTest {
    static final String TOKEN = "admin-token-for-body-tests-0123456789";

    TomcatProxy proxy;

    @BeforeAll
    void start() {
        AccessConfig access = AccessConfig.DEFAULTS.withAdmin(
                new AccessConfig.Admin(true, "/admin", List.of(ProxyKeys.hash(TOKEN)), "proxy-admin"));
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

    /** The answer to a request whose body has begun and never ends, within a few seconds. */
    RawHttp.Response answerToAnUnfinishedBody(String method, String head, byte[] firstBytes) throws Exception {
        try (RawHttp c = RawHttp.connect(proxy.port())) {
            c.write(method + " " + head + "Host: 127.0.0.1\r\nContent-Type: application/json\r\n\r\n");
            c.write(firstBytes);
            return CompletableFuture.supplyAsync(c::readResponse).get(5, TimeUnit.SECONDS);
        }
    }

    static byte[] chunk(String text) {
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        return (Integer.toHexString(b.length) + "\r\n" + text + "\r\n").getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void withoutAnAdminCredentialTheAnswerIs401BeforeTheBodyIsRead() throws Exception {
        for (String auth : new String[] {"", "Authorization: Bearer wrong-token\r\n"}) {
            RawHttp.Response chunked = answerToAnUnfinishedBody(
                    "POST",
                    "/admin/keys HTTP/1.1\r\n" + auth + "Transfer-Encoding: chunked\r\n",
                    chunk("{\"name\":\"" + "x".repeat(1000)));
            assertThat(chunked.status()).isEqualTo(401);
            assertThat(chunked.bodyText()).contains("invalid_api_key");

            RawHttp.Response declared = answerToAnUnfinishedBody(
                    "PUT",
                    "/admin/policies/free HTTP/1.1\r\n" + auth + "Content-Length: 5000000\r\n",
                    "{\"models\":[".getBytes(StandardCharsets.UTF_8));
            assertThat(declared.status()).isEqualTo(401);
        }
    }

    @Test
    void anAdminsBodyOverTheAdminApisCapIs413WhileItIsRead() throws Exception {
        String auth = "Authorization: Bearer " + TOKEN + "\r\n";
        RawHttp.Response declared = answerToAnUnfinishedBody(
                "POST",
                "/admin/keys HTTP/1.1\r\n" + auth + "Content-Length: 5000000\r\n",
                "{\"name\":\"".getBytes(StandardCharsets.UTF_8));
        assertThat(declared.status()).isEqualTo(413);
        assertThat(declared.bodyText()).contains("\"error\"");

        byte[] twoChunks = new byte[0];
        for (int i = 0; i < 3; i++) {
            byte[] c = chunk("x".repeat(40_000));
            byte[] all = new byte[twoChunks.length + c.length];
            System.arraycopy(twoChunks, 0, all, 0, twoChunks.length);
            System.arraycopy(c, 0, all, twoChunks.length, c.length);
            twoChunks = all;
        }
        RawHttp.Response chunked = answerToAnUnfinishedBody(
                "POST", "/admin/keys HTTP/1.1\r\n" + auth + "Transfer-Encoding: chunked\r\n", twoChunks);
        assertThat(chunked.status()).isEqualTo(413);
    }

    @Test
    void anAdminsSmallBodyIsStillServed() {
        byte[] body = "{\"name\":\"ci\"}".getBytes(StandardCharsets.UTF_8);
        RawHttp.Response created = RawHttp.exchange(
                proxy.port(),
                "POST /admin/keys HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        + "Authorization: Bearer " + TOKEN + "\r\nConnection: close\r\n",
                body);
        assertThat(created.status()).isEqualTo(201);
        assertThat(created.bodyText()).contains("\"key\":\"opk-");
    }
}
