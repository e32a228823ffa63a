package io.github.openaiproxy.servlet;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.access.AccessConfig;
import io.github.openaiproxy.core.access.DeclaredProxyKeys;
import io.github.openaiproxy.core.access.InMemoryProxyKeyStore;
import io.github.openaiproxy.core.access.Policy;
import io.github.openaiproxy.core.access.ProxyKey;
import io.github.openaiproxy.core.access.ProxyKeyPage;
import io.github.openaiproxy.core.access.ProxyKeyStore;
import io.github.openaiproxy.core.access.ProxyKeys;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.servlet.support.RawHttp;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.URI;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * {@code GET /admin/keys} over real HTTP is paged: at most {@code limit} keys (default 100, at most 1000) with
 * {@code has_more} and the opaque cursor {@code next_after}, never every key of the store in one answer; a bad
 * limit or a garbled, forged or foreign cursor is a 400 naming the parameter, never a store's failure.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class AdminKeyPagesHttpTest {
    static final String TOKEN = "admin-token-for-key-page-tests-0123456789";
    /** More keys than the default page holds, so that it shows. */
    static final int STORED = 250;

    static final ObjectMapper JSON = new ObjectMapper();

    /** Counts the store's unbounded listings: the admin API must not make one. */
    final AtomicInteger fullListings = new AtomicInteger();

    TomcatProxy proxy;

    @BeforeAll
    void start() {
        InMemoryProxyKeyStore keys = new InMemoryProxyKeyStore();
        for (int i = 0; i < STORED; i++) {
            ProxyKeys.NewKey k = ProxyKeys.generate();
            keys.insert(new ProxyKey(
                    "key_" + String.format("%04d", i),
                    k.displayPrefix(),
                    k.hash(),
                    "stored " + i,
                    null,
                    Policy.KEYS,
                    Instant.parse("2026-01-01T00:00:00Z").plusSeconds(STORED - i),
                    null,
                    null,
                    null));
        }
        AccessConfig access = AccessConfig.DEFAULTS
                .withAdmin(new AccessConfig.Admin(true, "/admin", List.of(ProxyKeys.hash(TOKEN)), null))
                .withDeclaredKeys(DeclaredProxyKeys.parse(List.of(
                        DeclaredProxyKeys.entry(ProxyKeys.hash("opk-declared-ci"), Policy.KEYS, "ci"),
                        DeclaredProxyKeys.entry(ProxyKeys.hash("opk-declared-batch"), Policy.KEYS, "batch"))));
        proxy = TomcatProxy.servlet(ProxyEngine.builder(ProxyConfig.builder()
                        .apiKey("sk-server")
                        .upstream(UpstreamConfig.defaults().withBaseUrl(URI.create("http://127.0.0.1:9")))
                        .access(access)
                        .build())
                .proxyKeys(countingFullListings(keys))
                .build());
    }

    @AfterAll
    void stop() {
        proxy.close();
    }

    @Test
    void aClientThatIgnoresPagingGetsTheFirstHundredKeysDeclaredOnesFirst() throws Exception {
        JsonNode page = ok("/admin/keys");
        assertThat(page.get("object").asText()).isEqualTo("list");
        assertThat(page.get("data")).hasSize(100);
        assertThat(page.get("has_more").asBoolean()).isTrue();
        assertThat(page.get("next_after").isTextual()).isTrue();
        assertThat(page.at("/data/0/id").asText()).isEqualTo("config-batch");
        assertThat(page.at("/data/1/id").asText()).isEqualTo("config-ci");
        // Then the stored keys by id (not by age: key_0249 is the oldest).
        assertThat(ids(page).subList(2, 100))
                .allMatch(id -> id.startsWith("key_"))
                .isSorted();
        assertThat(page.toString()).doesNotContain("\"hash\"").doesNotContain("\"key\"");
        assertThat(fullListings).as("the listing read every key").hasValue(0);
    }

    /**
     * Followed from page to page while keys are created and revoked between them, every key that existed at the
     * start is answered exactly once; the new ones at most once.
     */
    @Test
    void pagingWhileKeysAreCreatedAndRevokedAnswersEveryKeyOnce() throws Exception {
        List<String> before = ids(ok("/admin/keys?limit=1000"));
        assertThat(before).hasSizeGreaterThanOrEqualTo(STORED + 2);
        List<String> seen = new ArrayList<>();
        String after = null;
        for (int round = 0; round < 1000; round++) {
            JsonNode page = ok("/admin/keys?limit=7" + (after == null ? "" : "&after=" + after));
            assertThat(page.get("data").size()).isLessThanOrEqualTo(7);
            seen.addAll(ids(page));
            if (!page.get("has_more").asBoolean()) {
                assertThat(page.get("next_after").isNull()).isTrue();
                break;
            }
            after = page.get("next_after").asText();
            // Between pages: a new key, and one already listed or still to come revoked.
            RawHttp.Response created = send("POST", "/admin/keys", "{\"name\":\"made while paging\"}");
            assertThat(created.status()).isEqualTo(201);
            String revoke = before.get(2 + (round * 13) % (before.size() - 2));
            assertThat(send("POST", "/admin/keys/" + revoke + "/revoke", null).status())
                    .isEqualTo(200);
        }
        assertThat(seen).doesNotHaveDuplicates().containsAll(before);
        assertThat(fullListings).hasValue(0);
    }

    @Test
    void aLimitOutOfRangeOrNotANumberIsRefusedNamingIt() throws Exception {
        for (String limit : List.of("0", "-1", "1001", "99999999999999999999", "abc", "1.5", "1e3", "%00")) {
            RawHttp.Response r = get("/admin/keys?limit=" + limit);
            assertThat(r.status()).as(limit).isEqualTo(400);
            JsonNode error = JSON.readTree(r.bodyText()).get("error");
            assertThat(error.get("param").asText()).as(limit).isEqualTo("limit");
            assertThat(error.get("code").asText()).isEqualTo("invalid_request");
            assertThat(error.get("message").asText()).isEqualTo("limit must be an integer from 1 to 1000");
        }
        assertThat(ok("/admin/keys?limit=1000").get("data").size()).isGreaterThan(STORED);
        assertThat(ok("/admin/keys?limit=1").get("data")).hasSize(1);
        assertThat(ok("/admin/keys?limit=").get("data"))
                .as("blank: the default")
                .hasSize(100);
    }

    /**
     * A cursor this API did not make is refused before any store sees it: garbled, of another version, holding an
     * injection, a path or an id too long to be one; the answer names the parameter and echoes none of it.
     */
    @Test
    void aGarbledOrForgedCursorIsA400NamingAfter() throws Exception {
        List<String> cursors = List.of(
                "!!!",
                "AAAA",
                "a",
                "%00",
                "x".repeat(300),
                cursor("k1:key_0001") + "!",
                cursor("k1:' OR '1'='1"),
                cursor("k1:key_1; DROP TABLE openai_proxy_proxy_keys"),
                cursor("k1:../../etc/passwd"),
                cursor("k1:" + "k".repeat(81)),
                cursor("k1:"),
                cursor("k2:key_0001"),
                cursor("key_0001"),
                Base64.getUrlEncoder().encodeToString(new byte[] {'k', '1', ':', (byte) 0xC3, (byte) 0x28}));
        for (String c : cursors) {
            String shown = c.length() > 40 ? c.substring(0, 40) + "..." : c;
            RawHttp.Response r = get("/admin/keys?after=" + URLEncoder.encode(c, StandardCharsets.UTF_8));
            assertThat(r.status()).as(shown + ": " + r.bodyText()).isEqualTo(400);
            JsonNode error = JSON.readTree(r.bodyText()).get("error");
            assertThat(error.get("param").asText()).as(shown).isEqualTo("after");
            assertThat(error.get("code").asText()).isEqualTo("invalid_request");
            assertThat(r.bodyText())
                    .as(shown)
                    .doesNotContain("SQL")
                    .doesNotContain("DROP")
                    .doesNotContain("passwd");
        }
    }

    /**
     * A cursor is a place in the listing, not a credential nor a filter: without an admin credential it reads
     * nothing, and a hand-made one of the right shape answers only keys the plain listing shows, in its order.
     */
    @Test
    void aCursorReadsNothingTheCallerCouldNotListAnyway() throws Exception {
        String made = ok("/admin/keys?limit=3").get("next_after").asText();
        RawHttp.Response anonymous = RawHttp.exchange(
                proxy.port(),
                "GET /admin/keys?after=" + made + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n",
                new byte[0]);
        assertThat(anonymous.status()).isEqualTo(401);
        assertThat(anonymous.bodyText()).doesNotContain("key_0");
        RawHttp.Response wrongToken = RawHttp.exchange(
                proxy.port(),
                "GET /admin/keys?after=" + made + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
                        + "admin-token-not-configured-0123456789\r\nConnection: close\r\n",
                new byte[0]);
        assertThat(wrongToken.status()).isEqualTo(401);
        assertThat(wrongToken.bodyText()).doesNotContain("key_0");

        List<String> everything = ids(ok("/admin/keys?limit=1000"));
        List<String> forged = ids(ok("/admin/keys?limit=5&after=" + cursor("k1:key_0100")));
        assertThat(forged).hasSize(5);
        assertThat(everything).containsSubsequence(forged);
        assertThat(forged).allMatch(id -> id.compareTo("key_0100") > 0);
    }

    @Test
    void anUnknownOrRepeatedParameterIsRefused() {
        RawHttp.Response offset = get("/admin/keys?offset=100");
        assertThat(offset.status()).isEqualTo(400);
        assertThat(offset.bodyText()).contains("unknown parameter offset").contains("[after, limit]");
        RawHttp.Response twice = get("/admin/keys?limit=1&limit=1000");
        assertThat(twice.status()).isEqualTo(400);
        assertThat(twice.bodyText()).contains("limit is given twice");
    }

    static String cursor(String text) {
        return Base64.getUrlEncoder().withoutPadding().encodeToString(text.getBytes(StandardCharsets.UTF_8));
    }

    static List<String> ids(JsonNode page) {
        List<String> ids = new ArrayList<>();
        page.get("data").forEach(k -> ids.add(k.get("id").asText()));
        return ids;
    }

    JsonNode ok(String target) throws Exception {
        RawHttp.Response r = get(target);
        assertThat(r.status()).as(target + ": " + r.bodyText()).isEqualTo(200);
        return JSON.readTree(r.bodyText());
    }

    RawHttp.Response get(String target) {
        return send("GET", target, null);
    }

    RawHttp.Response send(String method, String target, String body) {
        return RawHttp.exchange(
                proxy.port(),
                method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        + "Authorization: Bearer " + TOKEN + "\r\nConnection: close\r\n",
                body == null ? new byte[0] : body.getBytes(StandardCharsets.UTF_8));
    }

    /** {@code store}, counting the calls of {@link ProxyKeyStore#list()}: every key at once. */
    ProxyKeyStore countingFullListings(ProxyKeyStore store) {
        return new ProxyKeyStore() {
            @Override
            public Optional<ProxyKey> findByHash(String hash) {
                return store.findByHash(hash);
            }

            @Override
            public Optional<ProxyKey> find(String id) {
                return store.find(id);
            }

            @Override
            public List<ProxyKey> list() {
                fullListings.incrementAndGet();
                return store.list();
            }

            @Override
            public ProxyKeyPage page(String after, int limit) {
                return store.page(after, limit);
            }

            @Override
            public boolean hasUnrevokedKeyUnder(String policy) {
                return store.hasUnrevokedKeyUnder(policy);
            }

            @Override
            public void insert(ProxyKey key) {
                store.insert(key);
            }

            @Override
            public boolean update(ProxyKey key) {
                return store.update(key);
            }

            @Override
            public boolean replace(ProxyKey expected, ProxyKey changed) {
                return store.replace(expected, changed);
            }

            @Override
            public void touch(String id, Instant at) {
                store.touch(id, at);
            }
        };
    }
}
