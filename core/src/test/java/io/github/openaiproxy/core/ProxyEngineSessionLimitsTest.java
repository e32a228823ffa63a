package io.github.openaiproxy.core;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static io.github.openaiproxy.core.EngineFixture.config;
import static io.github.openaiproxy.core.EngineFixture.get;
import static io.github.openaiproxy.core.EngineFixture.send;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.github.tomakehurst.wiremock.client.WireMock;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.session.ChatSessions;
import io.github.openaiproxy.core.session.InMemorySessionStore;
import io.github.openaiproxy.core.session.NewMessage;
import io.github.openaiproxy.core.session.SessionConfig;
import io.github.openaiproxy.core.session.SessionStore;
import io.github.openaiproxy.core.testing.Answer;
import io.github.openaiproxy.testsupport.WireMockUpstream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The bounds of chat sessions: the size of what is sent upstream with history, the bytes a message and a
 * session may hold, the bytes of a history page, the queue of a blocking store, and replies too large to
 * record (relayed whole, never cut).
 */
class ProxyEngineSessionLimitsTest {
    @RegisterExtension
    static final WireMockUpstream upstream = new WireMockUpstream();

    private ProxyEngine engine;

    @AfterEach
    void close() {
        if (engine != null) {
            engine.close();
        }
    }

    private ProxyEngine engine(ProxyConfig.Builder config) {
        engine = ProxyEngine.create(config.build());
        return engine;
    }

    private static void upstreamEchoes() {
        upstream.server()
                .stubFor(WireMock.post("/v1/chat/completions")
                        .willReturn(aResponse()
                                .withHeader("Content-Type", "application/json")
                                .withBody(ProxyEngineSessionsTest.ECHO_COMPLETION)
                                .withTransformers("response-template")));
    }

    private static int upstreamCalls() {
        return upstream.server()
                .findAll(postRequestedFor(urlEqualTo("/v1/chat/completions")))
                .size();
    }

    private String newSession() {
        Answer created = send(engine, EngineFixture.post("/sessions", ""));
        assertThat(created.status()).isEqualTo(201);
        return created.json().get("sessionId").asText();
    }

    private List<String> history(String id) {
        Answer a = send(engine, get("/sessions/" + id + "/messages").rawQuery("limit=1000"));
        assertThat(a.status()).as(a.text()).isEqualTo(200);
        return a.json().get("messages").findValuesAsText("content");
    }

    private static String chat(String sessionId, String content, boolean history) {
        return "{\"sessionId\":\"" + sessionId + "\",\"includeHistory\":" + history
                + ",\"messages\":[{\"role\":\"user\",\"content\":\"" + content + "\"}]}";
    }

    @Test
    void aHistoryThatMakesTheUpstreamBodyLargerThanMaxBodySizeIs413AndCallsNoUpstream() {
        upstreamEchoes();
        engine(config(upstream.baseUrl()).maxBodySize(4096));
        String id = newSession();
        for (int i = 0; i < 3; i++) {
            assertThat(send(engine, EngineFixture.post("/", chat(id, "x".repeat(1500), false)))
                            .status())
                    .isEqualTo(200);
        }
        int before = upstreamCalls();

        // A small request, but with ~9 KB of history the body sent upstream would be over 4 KB.
        JsonNode error = send(engine, EngineFixture.post("/", chat(id, "and now?", true)))
                .proxyError(413);

        assertThat(error.get("error").asText()).isEqualTo("Payload Too Large");
        assertThat(error.get("message").asText()).contains("4096 bytes");
        assertThat(upstreamCalls()).isEqualTo(before);
        assertThat(history(id)).hasSize(6); // nothing recorded for the refused turn
    }

    @Test
    void aNewMessageOverTheMessageCapIs413BeforeTheUpstreamAndRecordsNothing() {
        upstreamEchoes();
        engine(config(upstream.baseUrl()).sessions(SessionConfig.DEFAULTS.withMaxMessageSize(100)));
        String id = newSession();

        JsonNode error = send(engine, EngineFixture.post("/", chat(id, "y".repeat(101), false)))
                .proxyError(413);

        assertThat(error.get("param").asText()).isEqualTo("messages");
        assertThat(error.get("message").asText()).contains("100 bytes");
        assertThat(upstreamCalls()).isZero();
        assertThat(history(id)).isEmpty();
        // At the cap is fine (multi-byte characters count as their UTF-8 bytes: 50 x 2 bytes).
        assertThat(send(engine, EngineFixture.post("/", chat(id, "\u00e9".repeat(50), false)))
                        .status())
                .isEqualTo(200);
    }

    @Test
    void aRoleOfFiftyKilobytesIsKeptAsItsFirstThirtyTwoCharacters() {
        // The caps count a message's content; a client's role must not be a way around them.
        upstreamEchoes();
        engine(config(upstream.baseUrl()).sessions(SessionConfig.DEFAULTS.withMaxMessageSize(100)));
        String id = newSession();
        String role = "r".repeat(50_000);

        Answer a = send(
                engine,
                EngineFixture.post(
                        "/",
                        "{\"sessionId\":\"" + id + "\",\"messages\":[{\"role\":\"" + role
                                + "\",\"content\":\"hi\"}]}"));

        assertThat(a.status()).as(a.text()).isEqualTo(200);
        Answer page = send(engine, get("/sessions/" + id + "/messages").rawQuery("limit=10"));
        assertThat(page.json().get("messages").findValuesAsText("role"))
                .containsExactly("r".repeat(NewMessage.MAX_ROLE), "assistant");
    }

    @Test
    void aFullSessionRefusesNewTurnsWithAClearErrorAndKeepsEveryMessage() {
        upstreamEchoes();
        engine(config(upstream.baseUrl()).sessions(SessionConfig.DEFAULTS.withMaxSessionSize(300)));
        String id = newSession();
        String hundred = "z".repeat(100);
        // Turn 1: 100 + 104 bytes; turn 2 starts under the cap and is recorded whole (408 bytes).
        assertThat(send(engine, EngineFixture.post("/", chat(id, hundred, false)))
                        .status())
                .isEqualTo(200);
        assertThat(send(engine, EngineFixture.post("/", chat(id, hundred, false)))
                        .status())
                .isEqualTo(200);
        int before = upstreamCalls();

        JsonNode error =
                send(engine, EngineFixture.post("/", chat(id, "more", false))).proxyError(413);

        assertThat(error.get("error").asText()).isEqualTo("Session Full");
        assertThat(error.get("param").asText()).isEqualTo("sessionId");
        assertThat(error.get("message").asText()).contains("300 bytes").contains("new session");
        assertThat(upstreamCalls()).isEqualTo(before);
        assertThat(history(id)).hasSize(4).allSatisfy(c -> assertThat(c).contains(hundred));
    }

    @Test
    void aHistoryPageStopsAtItsByteBudgetAndNextAfterContinuesIt() {
        upstreamEchoes();
        engine(config(upstream.baseUrl()).sessions(SessionConfig.DEFAULTS.withMaxPageSize(250)));
        String id = newSession();
        for (int i = 0; i < 3; i++) {
            send(engine, EngineFixture.post("/", chat(id, String.valueOf(i).repeat(100), false)));
        }

        List<Integer> pages = new ArrayList<>();
        List<String> read = new ArrayList<>();
        long after = 0;
        boolean more = true;
        while (more) {
            JsonNode page = send(engine, get("/sessions/" + id + "/messages").rawQuery("after=" + after + "&limit=100"))
                    .json();
            pages.add(page.get("messages").size());
            read.addAll(page.get("messages").findValuesAsText("content"));
            more = page.get("hasMore").asBoolean();
            after = page.get("nextAfter").asLong();
        }

        // 100 + 104 bytes fit in 250, a third message would not: one question and its answer per page.
        assertThat(pages).containsExactly(2, 2, 2);
        assertThat(read).hasSize(6).doesNotHaveDuplicates();
    }

    /** A completion of 17 MB: more than any recording bound (the old one was 16 MB, cut with 200). */
    @Test
    void aReplyTooLargeToRecordReachesTheClientWholeAndTheSessionKeepsAMarker() {
        String content = "a".repeat(17 * 1024 * 1024);
        String completion = "{\"id\":\"chatcmpl-big\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"m\","
                + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"" + content
                + "\"},\"finish_reason\":\"stop\"}]}";
        upstream.server()
                .stubFor(WireMock.post("/v1/chat/completions")
                        .willReturn(aResponse()
                                .withHeader("Content-Type", "application/json")
                                .withBody(completion)));
        engine(config(upstream.baseUrl()));
        String id = newSession();

        Answer a = send(engine, EngineFixture.post("/", chat(id, "write a lot", false)));

        assertThat(a.status()).isEqualTo(200);
        byte[] received = a.body().bytes();
        assertThat(received.length).isEqualTo(completion.length());
        assertThat(new String(received, StandardCharsets.UTF_8)).isEqualTo(completion);
        assertThat(history(id)).containsExactly("write a lot", ChatSessions.REPLY_NOT_RECORDED);
    }

    /** Within the bound the reply is read whole; text over the message cap is relayed and marked. */
    @Test
    void aReplyOverTheMessageCapIsRelayedWholeAndRecordedAsAMarker() {
        String content = "b".repeat(1500);
        String completion = "{\"id\":\"c\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"m\","
                + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"" + content
                + "\"},\"finish_reason\":\"stop\"}]}";
        upstream.server()
                .stubFor(WireMock.post("/v1/chat/completions")
                        .willReturn(aResponse()
                                .withHeader("Content-Type", "application/json")
                                .withBody(completion)));
        engine(config(upstream.baseUrl()).sessions(SessionConfig.DEFAULTS.withMaxMessageSize(1000)));
        String id = newSession();

        Answer a = send(engine, EngineFixture.post("/", chat(id, "hi", false)));

        assertThat(a.status()).isEqualTo(200);
        assertThat(a.text()).isEqualTo(completion);
        assertThat(history(id)).containsExactly("hi", ChatSessions.REPLY_NOT_RECORDED);
    }

    @Test
    void aStreamedReplyOverTheMessageCapIsRelayedUnchangedAndRecordedAsAMarker() {
        upstream.server()
                .stubFor(WireMock.post("/v1/chat/completions")
                        .willReturn(aResponse()
                                .withHeader("Content-Type", "text/event-stream")
                                .withBody(String.join("", ProxyEngineSessionsTest.STREAM))));
        // The reply "Héllo 你好" is 13 bytes.
        engine(config(upstream.baseUrl()).sessions(SessionConfig.DEFAULTS.withMaxMessageSize(12)));
        String id = newSession();

        Answer a = send(
                engine,
                EngineFixture.post(
                        "/",
                        "{\"sessionId\":\"" + id
                                + "\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}"));

        assertThat(a.items()).isEqualTo(ProxyEngineSessionsTest.STREAM);
        assertThat(history(id)).containsExactly("Hi", ChatSessions.REPLY_NOT_RECORDED);
    }

    /**
     * A JDBC store whose database hangs: the engine's four session threads wait, one call waits in the
     * queue (size 1), and the next ones are refused at once with 503 and Retry-After.
     */
    @Test
    void oneClientFloodingTheStoreWithReadsCannotTakeEveryonesPlaceInItsQueue() throws Exception {
        // Every read of a session id (an unknown one too) is a database call on the engine's four session threads,
        // whose queue holds sessions.queue-size (1,000): one client sending them faster than the database answers
        // took every place, and every other caller's sessions were 503 until it stopped.
        org.h2.jdbcx.JdbcDataSource h2 = new org.h2.jdbcx.JdbcDataSource();
        h2.setURL("jdbc:h2:mem:flood-" + java.util.UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
        AtomicBoolean hang = new AtomicBoolean();
        CountDownLatch release = new CountDownLatch(1);
        DataSource slow = (DataSource) Proxy.newProxyInstance(
                getClass().getClassLoader(), new Class<?>[] {DataSource.class}, (proxy, method, args) -> {
                    if (method.getName().equals("getConnection") && hang.get()) {
                        release.await(30, TimeUnit.SECONDS);
                    }
                    try {
                        return method.invoke(h2, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
        try (SessionStore store = SessionStore.jdbc(slow)) {
            engine = ProxyEngine.builder(config(upstream.baseUrl()).build())
                    .sessions(store)
                    .build();
            String id = newSession();
            hang.set(true);
            Warnings logged = new Warnings();
            java.util.logging.Logger.getLogger("io.github.openaiproxy").addHandler(logged);
            List<CompletableFuture<ProxyResponse>> flood = new ArrayList<>();
            for (int i = 0; i < 1_100; i++) {
                flood.add(engine.handle(get("/sessions/" + io.github.openaiproxy.core.session.SessionIds.newSessionId())
                        .remoteAddress("203.0.113.66")
                        .build()));
            }
            CompletableFuture<ProxyResponse> other = engine.handle(
                    get("/sessions/" + id).remoteAddress("198.51.100.7").build());
            release.countDown();
            java.util.logging.Logger.getLogger("io.github.openaiproxy").removeHandler(logged);

            assertThat(Answer.of(other.get(30, TimeUnit.SECONDS)).status()).isEqualTo(200);
            List<Integer> statuses = new ArrayList<>();
            for (CompletableFuture<ProxyResponse> f : flood) {
                statuses.add(Answer.of(f.get(30, TimeUnit.SECONDS)).status());
            }
            int cap = ProxyConfig.DEFAULT_MAX_CONCURRENT_UPSTREAM_CALLS_PER_CLIENT;
            assertThat(statuses.stream().filter(s -> s == 404).count()).isEqualTo(cap);
            assertThat(statuses.stream().filter(s -> s == 503).count()).isEqualTo(1_100 - cap);
            // One warning for the refusals, not one per refused request: a flood must not fill the log's disk.
            assertThat(logged.count.get()).isLessThanOrEqualTo(1);
        }
    }

    /** Counts the proxy's warnings. */
    private static final class Warnings extends java.util.logging.Handler {
        final java.util.concurrent.atomic.AtomicInteger count = new java.util.concurrent.atomic.AtomicInteger();

        @Override
        public void publish(java.util.logging.LogRecord r) {
            if (r.getLevel().intValue() >= java.util.logging.Level.WARNING.intValue()) {
                count.incrementAndGet();
            }
        }

        @Override
        public void flush() {}

        @Override
        public void close() {}
    }

    @Test
    void aTurnOfThousandsOfTinyMessagesIsRefusedBeforeTheUpstreamAndWritesNoRows() throws Exception {
        // A turn records every message after the last assistant one, each a row: a 9 MB body of 300,000 one-letter
        // messages wrote 300,001 rows and took 10 s of CPU, where a message's bytes were all the caps counted.
        upstreamEchoes();
        org.h2.jdbcx.JdbcDataSource h2 = new org.h2.jdbcx.JdbcDataSource();
        h2.setURL("jdbc:h2:mem:turn-" + java.util.UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
        try (SessionStore store = SessionStore.jdbc(h2)) {
            engine = ProxyEngine.builder(config(upstream.baseUrl()).build())
                    .sessions(store)
                    .build();
            String id = newSession();
            int calls = upstreamCalls();

            JsonNode error =
                    send(engine, EngineFixture.post("/", turn(id, 5_000))).proxyError(413);

            assertThat(error.get("error").asText()).isEqualTo("Payload Too Large");
            assertThat(error.get("message").asText()).contains(Integer.toString(ChatSessions.MAX_TURN_MESSAGES));
            assertThat(upstreamCalls()).isEqualTo(calls);
            assertThat(rows(h2)).isZero();

            // As many as a turn may record are recorded, and answered.
            assertThat(send(engine, EngineFixture.post("/", turn(id, ChatSessions.MAX_TURN_MESSAGES)))
                            .status())
                    .isEqualTo(200);
            assertThat(rows(h2)).isEqualTo(ChatSessions.MAX_TURN_MESSAGES + 1);
        }
    }

    private static String turn(String sessionId, int messages) {
        StringBuilder b = new StringBuilder("{\"sessionId\":\"" + sessionId + "\",\"messages\":[");
        for (int i = 0; i < messages; i++) {
            b.append(i > 0 ? "," : "").append("{\"role\":\"user\",\"content\":\"a\"}");
        }
        return b.append("]}").toString();
    }

    private static int rows(DataSource db) throws java.sql.SQLException {
        try (java.sql.Connection c = db.getConnection();
                java.sql.ResultSet rs =
                        c.createStatement().executeQuery("SELECT COUNT(*) FROM openai_proxy_messages")) {
            rs.next();
            return rs.getInt(1);
        }
    }

    @Test
    void aFullStoreQueueIs503WithRetryAfter() throws Exception {
        upstreamEchoes();
        org.h2.jdbcx.JdbcDataSource h2 = new org.h2.jdbcx.JdbcDataSource();
        h2.setURL("jdbc:h2:mem:queue-" + java.util.UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
        AtomicBoolean hang = new AtomicBoolean();
        CountDownLatch entered = new CountDownLatch(4);
        CountDownLatch release = new CountDownLatch(1);
        DataSource hanging = (DataSource) Proxy.newProxyInstance(
                getClass().getClassLoader(), new Class<?>[] {DataSource.class}, (proxy, method, args) -> {
                    if (method.getName().equals("getConnection") && hang.get()) {
                        entered.countDown();
                        release.await(30, TimeUnit.SECONDS);
                    }
                    try {
                        return method.invoke(h2, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
        try (SessionStore store = SessionStore.jdbc(hanging)) {
            engine = ProxyEngine.builder(config(upstream.baseUrl())
                            .sessions(SessionConfig.DEFAULTS.withQueueSize(1))
                            .build())
                    .sessions(store)
                    .build();
            String id = newSession();
            hang.set(true); // the database hangs from now on
            List<CompletableFuture<ProxyResponse>> waiting = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                waiting.add(engine.handle(get("/sessions/" + id).build()));
            }
            assertThat(entered.await(30, TimeUnit.SECONDS)).isTrue(); // the four threads are taken
            waiting.add(engine.handle(get("/sessions/" + id).build())); // fills the queue of one

            Answer read = send(engine, get("/sessions/" + id));
            Answer turn = send(engine, EngineFixture.post("/", chat(id, "hi", false)));

            for (Answer busy : List.of(read, turn)) {
                JsonNode error = busy.proxyError(503);
                assertThat(error.get("error").asText()).isEqualTo("Service Unavailable");
                assertThat(error.get("message").asText()).contains("busy");
                assertThat(busy.header("Retry-After")).isEqualTo("1");
            }
            assertThat(upstreamCalls()).isZero();

            release.countDown(); // the database is back: every waiting call is answered
            for (CompletableFuture<ProxyResponse> w : waiting) {
                assertThat(Answer.of(w.get(30, TimeUnit.SECONDS)).status()).isEqualTo(200);
            }
        }
    }

    @Test
    void aHistoryLargerThanMaxBodySizeIsRefusedWithoutBuildingTheBody() {
        // A session may hold more than one body (max-session-size 16 MB, max-body-size 10 MB): each tiny request
        // asking for its history was refused only once the whole history had been copied into a body and written
        // out (30 MB and 60 ms of CPU per 108-byte request at 15 MB), with no upstream call and nothing counted.
        upstream.server()
                .stubFor(WireMock.post("/v1/chat/completions")
                        .willReturn(WireMock.okJson(EngineFixture.CHAT_COMPLETION)));
        engine(config(upstream.baseUrl()).maxBodySize(1_000_000));
        String id = newSession();
        for (int i = 0; i < 8; i++) {
            assertThat(send(engine, EngineFixture.post("/", chat(id, "x".repeat(900_000), false)))
                            .status())
                    .isEqualTo(200);
        }
        int before = upstreamCalls();
        String tiny = chat(id, "and now?", true);
        send(engine, EngineFixture.post("/", tiny)); // warm

        long allocated = allocatedBytes();
        for (int i = 0; i < 10; i++) {
            assertThat(send(engine, EngineFixture.post("/", tiny))
                            .proxyError(413)
                            .get("message")
                            .asText())
                    .contains("1000000 bytes");
        }
        long perRequest = (allocatedBytes() - allocated) / 10;

        assertThat(perRequest).as("bytes allocated per refused request").isLessThan(1_000_000);
        assertThat(upstreamCalls()).isEqualTo(before);
    }

    /** The bytes every thread of this JVM has allocated so far. */
    private static long allocatedBytes() {
        com.sun.management.ThreadMXBean threads =
                (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        long sum = 0;
        for (long allocated : threads.getThreadAllocatedBytes(threads.getAllThreadIds())) {
            sum += Math.max(0, allocated);
        }
        return sum;
    }

    @Test
    void anAnonymousCallerFillingSessionsWithLargeTurnsCannotGrowTheMemoryStorePastItsBytes() {
        // Each turn is two 200 KB messages, well within max-message-size (1 MB) and max-session-size (16 MB): without
        // a bound on the bytes of the whole store, 10,000 such sessions may hold 160 GB, and about a hundred cheap
        // turns
        // (an image part of a few tokens carries a megabyte) fill a 1 GB heap.
        upstream.server()
                .stubFor(WireMock.post("/v1/chat/completions")
                        .willReturn(WireMock.okJson(EngineFixture.CHAT_COMPLETION)));
        long maxBytes = 1L << 20;
        SessionStore store = InMemorySessionStore.builder()
                .limits(InMemorySessionStore.DEFAULTS.withMaxBytes(maxBytes))
                .build();
        engine = ProxyEngine.builder(config(upstream.baseUrl()).build())
                .sessions(store)
                .build();
        String big = "x".repeat(200_000);
        String turn = "{\"role\":\"user\",\"content\":\"" + big + "\"}";
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            String id = newSession();
            ids.add(id);
            assertThat(send(
                                    engine,
                                    EngineFixture.post(
                                            "/",
                                            "{\"sessionId\":\"" + id + "\",\"messages\":[" + turn + "," + turn + "]}"))
                            .status())
                    .isEqualTo(200);
        }

        long kept = 0;
        for (String id : ids) {
            kept += store.size(id).orElse(0L);
        }
        // 8 turns of 400 KB were sent; the store keeps what fits in its bytes, the latest sessions whole.
        assertThat(kept).isLessThanOrEqualTo(maxBytes);
        assertThat(history(ids.get(ids.size() - 1))).hasSize(3);
        assertThat(send(engine, get("/sessions/" + ids.get(0))).status()).isEqualTo(404);
    }
}
