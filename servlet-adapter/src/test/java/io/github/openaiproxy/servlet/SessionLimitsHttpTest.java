package io.github.openaiproxy.servlet;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.session.ChatSessions;
import io.github.openaiproxy.core.session.MessagePage;
import io.github.openaiproxy.core.session.NewMessage;
import io.github.openaiproxy.core.session.Session;
import io.github.openaiproxy.core.session.SessionConfig;
import io.github.openaiproxy.core.session.SessionStore;
import io.github.openaiproxy.core.session.StoredMessage;
import io.github.openaiproxy.core.testing.Upstream;
import io.github.openaiproxy.servlet.support.Http;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.http.HttpClient;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Session bounds through the servlet adapter on Tomcat: a reply too large to record still reaches the
 * client whole (never cut under a 200); history that would make the upstream body larger than
 * {@code max-body-size} is 413 with no upstream call; and the bounds of {@code sessions.*}: a message over
 * {@code max-message-size} and a turn in a session at {@code max-session-size} are 413 before the upstream,
 * a history page stops at {@code max-page-size} bytes with {@code hasMore}/{@code nextAfter}, and a full
 * store queue ({@code queue-size}) is 503 with {@code Retry-After}.
 */
class SessionLimitsHttpTest {
    @RegisterExtension
    static WireMockExtension upstream = Upstream.extension();

    static final ObjectMapper JSON = new ObjectMapper();

    TomcatProxy proxy;

    @AfterEach
    void stop() {
        if (proxy != null) {
            proxy.close();
        }
    }

    String newSession() throws Exception {
        HttpResponse<String> created = Http.postJson(proxy.uri("/sessions"), "");
        assertThat(created.statusCode()).isEqualTo(201);
        return JSON.readTree(created.body()).get("sessionId").asText();
    }

    JsonNode history(String id) throws Exception {
        HttpResponse<String> page = Http.get(proxy.uri("/sessions/" + id + "/messages"));
        assertThat(page.statusCode()).isEqualTo(200);
        return JSON.readTree(page.body()).get("messages");
    }

    static String chat(String id, String content, boolean history) {
        return "{\"sessionId\":\"" + id + "\",\"includeHistory\":" + history
                + ",\"messages\":[{\"role\":\"user\",\"content\":\"" + content + "\"}]}";
    }

    /** 17 MB: past the recording bound (the bound used to be 16 MB, and the rest was cut off under a 200). */
    @Test
    void aSessionReplyTooLargeToRecordReachesTheClientWhole() throws Exception {
        String completion = "{\"id\":\"chatcmpl-big\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"m\","
                + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\""
                + "a".repeat(17 * 1024 * 1024) + "\"},\"finish_reason\":\"stop\"}]}";
        upstream.stubFor(post("/v1/chat/completions")
                .willReturn(aResponse()
                        .withHeader("Content-Type", "application/json")
                        .withBody(completion)));
        proxy = TomcatProxy.servlet(Upstream.config(upstream).build());
        String id = newSession();

        HttpResponse<byte[]> reply = Http.sendForBytes(Http.request(proxy.uri("/"))
                .header("Content-Type", "application/json")
                .POST(java.net.http.HttpRequest.BodyPublishers.ofString(chat(id, "write a lot", false)))
                .build());

        assertThat(reply.statusCode()).isEqualTo(200);
        assertThat(reply.body().length).isEqualTo(completion.length());
        assertThat(new String(reply.body(), StandardCharsets.UTF_8)).isEqualTo(completion);
        assertThat(history(id).findValuesAsText("content"))
                .containsExactly("write a lot", ChatSessions.REPLY_NOT_RECORDED);
    }

    @Test
    void historyThatMakesTheUpstreamBodyTooLargeIs413WithoutAnUpstreamCall() throws Exception {
        upstream.stubFor(
                post("/v1/chat/completions")
                        .willReturn(
                                aResponse()
                                        .withHeader("Content-Type", "application/json")
                                        .withBody(
                                                "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"ok\"}}]}")));
        proxy = TomcatProxy.servlet(Upstream.config(upstream).maxBodySize(2048).build());
        String id = newSession();
        for (int i = 0; i < 2; i++) {
            assertThat(Http.postJson(proxy.uri("/"), chat(id, "q".repeat(1500), false))
                            .statusCode())
                    .isEqualTo(200);
        }
        int calls = Upstream.requests(upstream).size();

        HttpResponse<String> refused = Http.postJson(proxy.uri("/"), chat(id, "and?", true));

        assertThat(refused.statusCode()).as(refused.body()).isEqualTo(413);
        assertThat(JSON.readTree(refused.body()).get("error").asText()).isEqualTo("Payload Too Large");
        assertThat(Upstream.requests(upstream)).hasSize(calls);
    }

    static void upstreamAnswersOk() {
        upstream.stubFor(post("/v1/chat/completions")
                .willReturn(aResponse()
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"id\":\"c\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"m\","
                                + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"ok\"},"
                                + "\"finish_reason\":\"stop\"}]}")));
    }

    @Test
    void aMessageOverTheMessageCapIs413WithoutAnUpstreamCallAndRecordsNothing() throws Exception {
        upstreamAnswersOk();
        proxy = TomcatProxy.servlet(Upstream.config(upstream)
                .sessions(SessionConfig.DEFAULTS.withMaxMessageSize(100))
                .build());
        String id = newSession();

        HttpResponse<String> refused = Http.postJson(proxy.uri("/"), chat(id, "y".repeat(101), false));

        assertThat(refused.statusCode()).as(refused.body()).isEqualTo(413);
        JsonNode error = JSON.readTree(refused.body());
        assertThat(error.get("error").asText()).isEqualTo("Payload Too Large");
        assertThat(error.get("param").asText()).isEqualTo("messages");
        assertThat(error.get("message").asText()).contains("100 bytes");
        Upstream.assertNoCalls(upstream);
        assertThat(history(id)).isEmpty();
        // At the cap is fine: 50 two-byte characters are 100 bytes.
        assertThat(Http.postJson(proxy.uri("/"), chat(id, "\u00e9".repeat(50), false))
                        .statusCode())
                .isEqualTo(200);
    }

    @Test
    void aTurnInAFullSessionIs413SessionFullWithoutAnUpstreamCall() throws Exception {
        upstreamAnswersOk();
        proxy = TomcatProxy.servlet(Upstream.config(upstream)
                .sessions(SessionConfig.DEFAULTS.withMaxSessionSize(300))
                .build());
        String id = newSession();
        String question = "z".repeat(150);
        // 152 bytes after the first turn; the second starts under the cap and is recorded whole (304).
        for (int i = 0; i < 2; i++) {
            assertThat(Http.postJson(proxy.uri("/"), chat(id, question, false)).statusCode())
                    .isEqualTo(200);
        }
        int calls = Upstream.requests(upstream).size();

        HttpResponse<String> refused = Http.postJson(proxy.uri("/"), chat(id, "more", false));

        assertThat(refused.statusCode()).as(refused.body()).isEqualTo(413);
        JsonNode error = JSON.readTree(refused.body());
        assertThat(error.get("error").asText()).isEqualTo("Session Full");
        assertThat(error.get("param").asText()).isEqualTo("sessionId");
        assertThat(error.get("message").asText()).contains("300 bytes");
        assertThat(Upstream.requests(upstream)).hasSize(calls);
        assertThat(history(id).findValuesAsText("content")).containsExactly(question, "ok", question, "ok");
    }

    @Test
    void aHistoryPageStopsAtMaxPageSizeAndNextAfterContinuesIt() throws Exception {
        upstreamAnswersOk();
        proxy = TomcatProxy.servlet(Upstream.config(upstream)
                .sessions(SessionConfig.DEFAULTS.withMaxPageSize(250))
                .build());
        String id = newSession();
        for (int i = 0; i < 3; i++) {
            assertThat(Http.postJson(proxy.uri("/"), chat(id, String.valueOf(i).repeat(100), false))
                            .statusCode())
                    .isEqualTo(200);
        }

        List<Integer> pages = new ArrayList<>();
        List<String> read = new ArrayList<>();
        long after = 0;
        boolean more = true;
        while (more && pages.size() < 10) {
            HttpResponse<String> answer = Http.get(proxy.uri("/sessions/" + id + "/messages?limit=100&after=" + after));
            assertThat(answer.statusCode()).as(answer.body()).isEqualTo(200);
            JsonNode page = JSON.readTree(answer.body());
            pages.add(page.get("messages").size());
            read.addAll(page.get("messages").findValuesAsText("content"));
            more = page.get("hasMore").asBoolean();
            after = page.get("nextAfter").asLong();
        }

        // 100 + 2 + 100 + 2 bytes fit in 250, the next 100 would not.
        assertThat(pages).containsExactly(4, 2);
        assertThat(read).containsExactly("0".repeat(100), "ok", "1".repeat(100), "ok", "2".repeat(100), "ok");
    }

    /**
     * A store whose database hangs: the engine's four session threads wait in it, one call waits in the
     * queue (size 1), and the next calls are refused at once with 503, {@code Retry-After} and no upstream
     * call; when the database is back, the waiting calls are answered.
     */
    @Test
    void aFullStoreQueueIs503WithRetryAfter() throws Exception {
        upstreamAnswersOk();
        HangingStore store = new HangingStore();
        ProxyEngine engine = ProxyEngine.builder(Upstream.config(upstream)
                        .sessions(SessionConfig.DEFAULTS.withQueueSize(1))
                        .build())
                .sessions(store)
                .build();
        proxy = TomcatProxy.servlet(engine);
        String id = newSession();
        store.hang.set(true);
        try {
            List<CompletableFuture<HttpResponse<String>>> hung = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                hung.add(getAsync("/sessions/" + id));
            }
            assertThat(store.entered.await(30, TimeUnit.SECONDS)).isTrue(); // the four threads are taken
            // Two more: one takes the queue's only place, the other is refused (which is which is a race).
            CompletableFuture<HttpResponse<String>> a = getAsync("/sessions/" + id);
            CompletableFuture<HttpResponse<String>> b = getAsync("/sessions/" + id);
            CompletableFuture.anyOf(a, b).get(30, TimeUnit.SECONDS);
            // The queued one cannot finish while the store hangs.
            HttpResponse<String> first = a.isDone() ? a.join() : b.join();
            CompletableFuture<HttpResponse<String>> queued = a.isDone() ? b : a;
            HttpResponse<String> turn = Http.postJson(proxy.uri("/"), chat(id, "hi", false));

            for (HttpResponse<String> busy : List.of(first, turn)) {
                assertThat(busy.statusCode()).as(busy.body()).isEqualTo(503);
                assertThat(busy.headers().firstValue("Retry-After")).hasValue("1");
                JsonNode error = JSON.readTree(busy.body());
                assertThat(error.get("error").asText()).isEqualTo("Service Unavailable");
                assertThat(error.get("message").asText()).contains("busy");
            }
            Upstream.assertNoCalls(upstream);

            store.release.countDown(); // the database is back
            hung.add(queued);
            for (CompletableFuture<HttpResponse<String>> waiting : hung) {
                assertThat(waiting.get(30, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
            }
        } finally {
            store.release.countDown();
        }
    }

    CompletableFuture<HttpResponse<String>> getAsync(String path) {
        return ASYNC.sendAsync(Http.request(proxy.uri(path)).GET().build(), HttpResponse.BodyHandlers.ofString());
    }

    static final HttpClient ASYNC = HttpClient.newHttpClient();

    /** An in-memory store that says it blocks, and whose calls wait while {@link #hang} is set. */
    static final class HangingStore implements SessionStore {
        final SessionStore memory = SessionStore.inMemory();
        final AtomicBoolean hang = new AtomicBoolean();
        final CountDownLatch entered = new CountDownLatch(4);
        final CountDownLatch release = new CountDownLatch(1);

        private void gate() {
            if (hang.get()) {
                entered.countDown();
                try {
                    release.await(30, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }

        @Override
        public Session create() {
            gate();
            return memory.create();
        }

        @Override
        public Optional<Session> find(String sessionId) {
            gate();
            return memory.find(sessionId);
        }

        @Override
        public Optional<List<StoredMessage>> append(String sessionId, List<NewMessage> messages) {
            gate();
            return memory.append(sessionId, messages);
        }

        @Override
        public Optional<MessagePage> messages(String sessionId, long afterSequence, int limit) {
            gate();
            return memory.messages(sessionId, afterSequence, limit);
        }

        @Override
        public Optional<MessagePage> messages(String sessionId, long afterSequence, int limit, long maxBytes) {
            gate();
            return memory.messages(sessionId, afterSequence, limit, maxBytes);
        }

        @Override
        public Optional<Long> size(String sessionId) {
            gate();
            return memory.size(sessionId);
        }

        @Override
        public Optional<List<StoredMessage>> latest(String sessionId, int limit) {
            gate();
            return memory.latest(sessionId, limit);
        }

        @Override
        public boolean delete(String sessionId) {
            gate();
            return memory.delete(sessionId);
        }

        @Override
        public boolean blocking() {
            return true;
        }
    }
}
