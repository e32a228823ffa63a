package io.github.openaiproxy.servlet;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.access.AccessConfig;
import io.github.openaiproxy.core.access.AuditEntry;
import io.github.openaiproxy.core.access.AuditLog;
import io.github.openaiproxy.core.access.AuditPage;
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
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * {@code GET /admin/audit} over real HTTP is paged as {@code GET /admin/keys} is: at most {@code limit} entries,
 * newest first, with {@code has_more} and the opaque cursor {@code next_after}, so a client walks the whole log
 * back to its start; changes made between pages neither shift nor repeat older entries; a bad limit or a garbled,
 * forged or foreign cursor is a 400 naming the parameter, never a store's failure.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class AdminAuditPagesHttpTest {
    static final String TOKEN = "admin-token-for-audit-page-tests-0123456789";
    /** More entries than the default page holds; many of one instant. */
    static final int WRITTEN = 250;

    static final ObjectMapper JSON = new ObjectMapper();

    /** Counts the log's reads of the latest entries: the listing reads pages. */
    final AtomicInteger recentReads = new AtomicInteger();

    TomcatProxy proxy;

    @BeforeAll
    void start() {
        AuditLog log = AuditLog.inMemory();
        Instant t = Instant.parse("2026-01-01T00:00:00Z");
        for (int i = 0; i < WRITTEN; i++) {
            // Ten entries a second: time alone cannot tell them apart.
            log.record(new AuditEntry(
                    t.plusSeconds(i / 10), "cli", "key.revoke", "key_" + String.format("%04d", i), null));
        }
        AccessConfig access = AccessConfig.DEFAULTS.withAdmin(
                new AccessConfig.Admin(true, "/admin", List.of(ProxyKeys.hash(TOKEN)), null));
        proxy = TomcatProxy.servlet(ProxyEngine.builder(ProxyConfig.builder()
                        .apiKey("sk-server")
                        .upstream(UpstreamConfig.defaults().withBaseUrl(URI.create("http://127.0.0.1:9")))
                        .access(access)
                        .build())
                .auditLog(countingRecentReads(log))
                .build());
    }

    @AfterAll
    void stop() {
        proxy.close();
    }

    @Test
    void aClientThatIgnoresPagingGetsTheLatestHundredNewestFirst() throws Exception {
        JsonNode page = ok("/admin/audit");
        assertThat(page.get("object").asText()).isEqualTo("list");
        assertThat(page.get("data")).hasSize(100);
        assertThat(page.get("has_more").asBoolean()).isTrue();
        assertThat(page.get("next_after").isTextual()).isTrue();
        List<String> keyIds = keyIds(page);
        // The entries written at the start (key_0000 ...), not keys other tests made (key_ and 16 random characters,
        // which may begin with 0 too).
        assertThat(keyIds.stream().filter(id -> id.matches("key_\\d{4}")).toList())
                .isSortedAccordingTo(java.util.Comparator.reverseOrder());
        assertThat(recentReads)
                .as("the listing read the latest entries, not a page")
                .hasValue(0);
    }

    /**
     * Followed from page to page while keys are created between them (each an entry at the head of the log),
     * every entry that was there at the start is answered exactly once, in order, down to the oldest; the new ones
     * are newer than the first page, so not answered.
     */
    @Test
    void pagingWhileChangesAreAuditedAnswersEveryOlderEntryOnce() throws Exception {
        List<String> before = entries(ok("/admin/audit?limit=1000"));
        assertThat(before).hasSizeGreaterThanOrEqualTo(WRITTEN);
        List<String> seen = new ArrayList<>();
        String after = null;
        int created = 0;
        for (int round = 0; round < 1000; round++) {
            JsonNode page = ok("/admin/audit?limit=7" + (after == null ? "" : "&after=" + after));
            assertThat(page.get("data").size()).isLessThanOrEqualTo(7);
            seen.addAll(entries(page));
            if (!page.get("has_more").asBoolean()) {
                assertThat(page.get("next_after").isNull()).isTrue();
                break;
            }
            assertThat(page.get("data")).as("a page with more after it is full").hasSize(7);
            after = page.get("next_after").asText();
            RawHttp.Response r = send("POST", "/admin/keys", "{\"name\":\"made while paging\"}");
            assertThat(r.status()).isEqualTo(201);
            created++;
        }
        assertThat(seen).containsExactlyElementsOf(before);
        assertThat(seen.get(seen.size() - 1)).as("the oldest entry").contains("key_0000");
        assertThat(created).isGreaterThan(30);
        assertThat(entries(ok("/admin/audit?limit=1000")))
                .as("the changes made meanwhile are at the head")
                .hasSize(before.size() + created)
                .endsWith(before.toArray(String[]::new));
    }

    @Test
    void aLimitOutOfRangeOrNotANumberIsRefusedNamingIt() throws Exception {
        for (String limit : List.of("0", "-1", "1001", "99999999999999999999", "abc", "1.5", "%00")) {
            RawHttp.Response r = get("/admin/audit?limit=" + limit);
            assertThat(r.status()).as(limit).isEqualTo(400);
            JsonNode error = JSON.readTree(r.bodyText()).get("error");
            assertThat(error.get("param").asText()).as(limit).isEqualTo("limit");
            assertThat(error.get("message").asText()).isEqualTo("limit must be an integer from 1 to 1000");
        }
        assertThat(ok("/admin/audit?limit=1").get("data")).hasSize(1);
        assertThat(ok("/admin/audit?limit=1000").get("data").size()).isGreaterThanOrEqualTo(WRITTEN);
    }

    /**
     * A cursor this API did not make is refused before the log sees it: garbled, of another version, another
     * listing's (a key cursor), a position that is not one, too long; the answer names {@code after} and echoes
     * none of it. An audit cursor is no key cursor either.
     */
    @Test
    void aGarbledForgedOrForeignCursorIsA400NamingAfter() throws Exception {
        List<String> cursors = List.of(
                "!!!",
                "AAAA",
                "%00",
                "x".repeat(300),
                cursor("a1:12") + "!",
                cursor("a1:"),
                cursor("a1:0"),
                cursor("a1:-5"),
                cursor("a1:+5"),
                cursor("a1:007"),
                cursor("a1:1.5"),
                cursor("a1:5 "),
                cursor("a1:9223372036854775808"),
                cursor("a1:99999999999999999999999"),
                cursor("a1:1; DROP TABLE openai_proxy_audit_log"),
                cursor("a2:12"),
                cursor("12"),
                cursor("k1:key_0001"),
                ok("/admin/keys?limit=1").path("next_after").asText("k"));
        for (String c : cursors) {
            String shown = c.length() > 40 ? c.substring(0, 40) + "..." : c;
            RawHttp.Response r = get("/admin/audit?after=" + URLEncoder.encode(c, StandardCharsets.UTF_8));
            assertThat(r.status()).as(shown + ": " + r.bodyText()).isEqualTo(400);
            JsonNode error = JSON.readTree(r.bodyText()).get("error");
            assertThat(error.get("param").asText()).as(shown).isEqualTo("after");
            assertThat(error.get("code").asText()).isEqualTo("invalid_request");
            assertThat(r.bodyText()).as(shown).doesNotContain("DROP").doesNotContain("SQL");
        }
        String audit = ok("/admin/audit?limit=3").get("next_after").asText();
        RawHttp.Response asKeyCursor = get("/admin/keys?after=" + audit);
        assertThat(asKeyCursor.status()).isEqualTo(400);
        assertThat(JSON.readTree(asKeyCursor.bodyText()).at("/error/param").asText())
                .isEqualTo("after");
    }

    /**
     * A cursor is a place in the log, not a credential nor a filter: without an admin credential it reads nothing,
     * and a hand-made one of the right shape answers only entries the plain listing shows, in its order.
     */
    @Test
    void aCursorReadsNothingTheCallerCouldNotReadAnyway() throws Exception {
        String made = ok("/admin/audit?limit=3").get("next_after").asText();
        for (String authorization : List.of("", "Authorization: Bearer admin-token-not-configured-0123456789\r\n")) {
            RawHttp.Response r = RawHttp.exchange(
                    proxy.port(),
                    "GET /admin/audit?after=" + made + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + authorization
                            + "Connection: close\r\n",
                    new byte[0]);
            assertThat(r.status()).isEqualTo(401);
            assertThat(r.bodyText()).doesNotContain("key_0");
        }
        List<String> everything = entries(ok("/admin/audit?limit=1000"));
        List<String> forged = entries(ok("/admin/audit?limit=5&after=" + cursor("a1:101")));
        assertThat(forged).hasSize(5);
        assertThat(everything).containsSubsequence(forged);
        assertThat(forged.get(0)).as("position 100 is the 100th entry written").contains("key_0099");
        assertThat(ok("/admin/audit?after=" + cursor("a1:9223372036854775807")).get("data"))
                .as("beyond the newest: from the newest")
                .hasSize(100);
        JsonNode none = ok("/admin/audit?after=" + cursor("a1:1"));
        assertThat(none.get("data")).isEmpty();
        assertThat(none.get("has_more").asBoolean()).isFalse();
    }

    @Test
    void anUnknownOrRepeatedParameterIsRefused() {
        RawHttp.Response named = get("/admin/audit?before=" + cursor("a1:5"));
        assertThat(named.status()).isEqualTo(400);
        assertThat(named.bodyText()).contains("unknown parameter before").contains("[after, limit]");
        RawHttp.Response twice = get("/admin/audit?after=" + cursor("a1:5") + "&after=" + cursor("a1:9"));
        assertThat(twice.status()).isEqualTo(400);
        assertThat(twice.bodyText()).contains("after is given twice");
    }

    static String cursor(String text) {
        return Base64.getUrlEncoder().withoutPadding().encodeToString(text.getBytes(StandardCharsets.UTF_8));
    }

    /** Each entry of a page as its JSON text: the whole entry is what must not repeat or go missing. */
    static List<String> entries(JsonNode page) {
        List<String> out = new ArrayList<>();
        page.get("data").forEach(e -> out.add(e.toString()));
        return out;
    }

    static List<String> keyIds(JsonNode page) {
        List<String> out = new ArrayList<>();
        page.get("data").forEach(e -> out.add(e.path("keyId").asText("")));
        return out;
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

    /** {@code log}, counting the calls of {@link AuditLog#recent}. */
    AuditLog countingRecentReads(AuditLog log) {
        return new AuditLog() {
            @Override
            public void record(AuditEntry entry) {
                log.record(entry);
            }

            @Override
            public List<AuditEntry> recent(int limit) {
                recentReads.incrementAndGet();
                return log.recent(limit);
            }

            @Override
            public AuditPage page(Long before, int limit) {
                return log.page(before, limit);
            }
        };
    }
}
