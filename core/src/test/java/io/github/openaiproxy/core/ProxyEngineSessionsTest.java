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
import io.github.openaiproxy.core.cors.CorsConfig;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.session.ChatSessions;
import io.github.openaiproxy.core.session.MessagePage;
import io.github.openaiproxy.core.session.NewMessage;
import io.github.openaiproxy.core.session.Session;
import io.github.openaiproxy.core.session.SessionConfig;
import io.github.openaiproxy.core.session.SessionStore;
import io.github.openaiproxy.core.session.StoredMessage;
import io.github.openaiproxy.core.testing.Answer;
import io.github.openaiproxy.testsupport.RawUpstream;
import io.github.openaiproxy.testsupport.TestSubscriber;
import io.github.openaiproxy.testsupport.WireMockUpstream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Chat sessions: the REST routes, sessionId on POST /, recording plain and streamed replies, history as context. */
class ProxyEngineSessionsTest {
    @RegisterExtension
    static final WireMockUpstream upstream = new WireMockUpstream();

    /** Answers every chat with "re: " and the content of the last message it was sent. */
    static final String ECHO_COMPLETION = "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1,"
            + "\"model\":\"gpt-3.5-turbo\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
            + "\"content\":\"re: {{jsonPath request.body '$.messages[-1].content'}}\"},\"finish_reason\":\"stop\"}]}";

    static final List<String> STREAM = List.of(
            "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
            "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"H\u00e9llo \"}}]}\n\n",
            "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\u4f60\u597d\"}}]}\n\n",
            "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
            "data: [DONE]\n\n");

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
                                .withBody(ECHO_COMPLETION)
                                .withTransformers("response-template")));
    }

    private String newSession() {
        Answer created = send(engine, EngineFixture.post("/sessions", ""));
        assertThat(created.status()).isEqualTo(201);
        assertThat(created.json().get("success").asBoolean()).isTrue();
        return created.json().get("sessionId").asText();
    }

    private JsonNode history(String id) {
        Answer a = send(engine, get("/sessions/" + id + "/messages"));
        assertThat(a.status()).as(a.text()).isEqualTo(200);
        return a.json().get("messages");
    }

    private static String chat(String sessionId, String content) {
        return "{\"sessionId\":\"" + sessionId + "\",\"messages\":[{\"role\":\"user\",\"content\":\"" + content
                + "\"}]}";
    }

    /** A blocking store (as JDBC is) whose appends wait for the test: a turn being written as the engine closes. */
    private static final class HeldAppends implements SessionStore {
        final SessionStore memory = SessionStore.inMemory();
        final java.util.concurrent.CountDownLatch writing = new java.util.concurrent.CountDownLatch(1);
        final java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);

        @Override
        public Session create() {
            return memory.create();
        }

        @Override
        public Session create(String ownerId) {
            return memory.create(ownerId);
        }

        @Override
        public Optional<Session> find(String sessionId) {
            return memory.find(sessionId);
        }

        @Override
        public Optional<List<StoredMessage>> append(String sessionId, List<NewMessage> messages) {
            writing.countDown();
            try {
                release.await(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return memory.append(sessionId, messages);
        }

        @Override
        public Optional<MessagePage> messages(String sessionId, long afterSequence, int limit) {
            return memory.messages(sessionId, afterSequence, limit);
        }

        @Override
        public Optional<List<StoredMessage>> latest(String sessionId, int limit) {
            return memory.latest(sessionId, limit);
        }

        @Override
        public boolean delete(String sessionId) {
            return memory.delete(sessionId);
        }

        @Override
        public boolean blocking() {
            return true;
        }
    }

    /**
     * The engine closing while a turn is being written to a blocking session store (on the engine's session
     * threads): close() waits for the write (bounded) instead of returning at once, when its caller would close
     * the store under it and the turn would be lost.
     */
    @Test
    void closingTheEngineWaitsForATurnBeingWritten() throws Exception {
        upstreamEchoes();
        HeldAppends store = new HeldAppends();
        engine = ProxyEngine.builder(config(upstream.baseUrl()).build())
                .sessions(store)
                .build();
        String id = newSession();
        CompletableFuture<ProxyResponse> turn =
                engine.handle(EngineFixture.post("/", chat(id, "Hello!")).build());
        assertThat(store.writing.await(10, TimeUnit.SECONDS)).isTrue();

        java.util.concurrent.atomic.AtomicInteger storedWhenClosed = new java.util.concurrent.atomic.AtomicInteger(-1);
        Thread closer = new Thread(
                () -> {
                    engine.close();
                    // what its caller's store holds when it closes it, as a Spring context does next
                    storedWhenClosed.set(
                            store.memory.latest(id, 10).orElseThrow().size());
                },
                "closer");
        closer.start();
        closer.join(1000);
        assertThat(closer.isAlive())
                .as("close() waits for the turn being written")
                .isTrue();
        store.release.countDown();
        closer.join(10_000);

        assertThat(closer.isAlive()).isFalse();
        assertThat(storedWhenClosed.get())
                .as("the turn's messages, stored before close() returned")
                .isEqualTo(2);
        Answer answered = Answer.of(turn.get(10, TimeUnit.SECONDS));
        assertThat(answered.status()).isEqualTo(200);
        assertThat(answered.json().at("/choices/0/message/content").asText()).isEqualTo("re: Hello!");
    }

    @Test
    void sessionsAreCreatedListedAndDeletedOverRest() {
        engine(config(upstream.baseUrl()));
        String id = newSession();
        assertThat(id).matches("ses_[A-Za-z0-9_-]{22}");

        Answer info = send(engine, get("/sessions/" + id));
        assertThat(info.status()).isEqualTo(200);
        assertThat(info.json().get("sessionId").asText()).isEqualTo(id);
        assertThat(info.header("Cache-Control")).isEqualTo("no-store");

        Answer empty = send(engine, get("/sessions/" + id + "/messages"));
        assertThat(empty.json().get("messages")).isEmpty();
        assertThat(empty.json().get("hasMore").asBoolean()).isFalse();

        Answer deleted = send(engine, ProxyRequest.builder("DELETE", "/sessions/" + id));
        assertThat(deleted.status()).isEqualTo(200);
        assertThat(deleted.json().get("success").asBoolean()).isTrue();

        JsonNode gone = send(engine, get("/sessions/" + id + "/messages")).proxyError(404);
        assertThat(gone.get("error").asText()).isEqualTo("Session Not Found");
        send(engine, ProxyRequest.builder("DELETE", "/sessions/" + id)).proxyError(404);
    }

    @Test
    void sessionRoutesGetCorsAndMethodChecks() {
        engine(config(upstream.baseUrl())
                .cors(CorsConfig.builder()
                        .origins(List.of("https://app.example"))
                        .build()));
        Answer wrong = send(engine, get("/sessions").header("Origin", "https://app.example"));
        assertThat(wrong.status()).isEqualTo(405);
        assertThat(wrong.header("Allow")).isEqualTo("OPTIONS, POST");
        assertThat(wrong.header("Access-Control-Allow-Origin")).isEqualTo("https://app.example");

        Answer preflight = send(
                engine,
                ProxyRequest.builder("OPTIONS", "/sessions/ses_x/messages")
                        .header("Origin", "https://app.example")
                        .header("Access-Control-Request-Method", "GET"));
        assertThat(preflight.status()).isEqualTo(204);

        Answer denied = send(engine, EngineFixture.post("/sessions", "").header("Origin", "https://evil.example"));
        assertThat(denied.status()).isEqualTo(403);
    }

    @Test
    void pagingParametersAreChecked() {
        engine(config(upstream.baseUrl()));
        String id = newSession();
        assertThat(send(engine, get("/sessions/" + id + "/messages").rawQuery("limit=0"))
                        .proxyError(400)
                        .get("param")
                        .asText())
                .isEqualTo("limit");
        assertThat(send(engine, get("/sessions/" + id + "/messages").rawQuery("after=x"))
                        .proxyError(400)
                        .get("param")
                        .asText())
                .isEqualTo("after");
    }

    @Test
    void aChatInASessionIsRecordedAndTheSessionIdNeverGoesUpstream() {
        upstreamEchoes();
        engine(config(upstream.baseUrl()));
        String id = newSession();

        Answer a = send(engine, EngineFixture.post("/", chat(id, "Hello!")));

        assertThat(a.status()).as(a.text()).isEqualTo(200);
        assertThat(a.json().at("/choices/0/message/content").asText()).isEqualTo("re: Hello!");
        String sent = upstream.server()
                .findAll(postRequestedFor(urlEqualTo("/v1/chat/completions")))
                .get(0)
                .getBodyAsString();
        assertThat(sent).doesNotContain("sessionId").doesNotContain(id);
        JsonNode messages = history(id);
        assertThat(messages).hasSize(2);
        assertThat(messages.get(0).get("content").asText()).isEqualTo("Hello!");
        assertThat(messages.get(0).get("isUser").asBoolean()).isTrue();
        assertThat(messages.get(1).get("content").asText()).isEqualTo("re: Hello!");
        assertThat(messages.get(1).get("isUser").asBoolean()).isFalse();
        assertThat(messages.get(1).get("role").asText()).isEqualTo("assistant");
        assertThat(messages.get(1).get("id").asText()).isEqualTo(a.header(ChatSessions.MESSAGE_ID_HEADER));
        assertThat(messages.get(1).get("timestamp").asText())
                .isEqualTo(a.header(ChatSessions.MESSAGE_TIMESTAMP_HEADER));
    }

    @Test
    void onlyTheMessagesAfterTheLastAssistantMessageAreNew() {
        upstream.server()
                .stubFor(WireMock.post("/v1/chat/completions")
                        .willReturn(aResponse()
                                .withHeader("Content-Type", "application/json")
                                .withBody(EngineFixture.CHAT_COMPLETION)));
        engine(config(upstream.baseUrl()));
        String id = newSession();
        String body = "{\"sessionId\":\"" + id + "\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief\"},"
                + "{\"role\":\"user\",\"content\":\"one\"},{\"role\":\"assistant\",\"content\":\"re: one\"},"
                + "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"two\"}]}]}";

        assertThat(send(engine, EngineFixture.post("/", body)).status()).isEqualTo(200);

        JsonNode messages = history(id);
        assertThat(messages).hasSize(2);
        assertThat(messages.get(0).get("content").asText()).isEqualTo("two");
        assertThat(messages.get(0).get("parts").get(0).get("type").asText()).isEqualTo("text");
        assertThat(messages.get(1).get("content").asText()).isEqualTo("Hi!");
    }

    @Test
    void anUnknownSessionIs404AndCallsNoUpstream() {
        upstreamEchoes();
        engine(config(upstream.baseUrl()));
        JsonNode error = send(engine, EngineFixture.post("/", chat("ses_AAAAAAAAAAAAAAAAAAAAAA", "Hi")))
                .proxyError(404);
        assertThat(error.get("param").asText()).isEqualTo("sessionId");
        assertThat(upstream.server().getAllServeEvents()).isEmpty();
    }

    @Test
    void misplacedSessionFieldsAre400() {
        engine(config(upstream.baseUrl()));
        String id = newSession();
        assertThat(send(engine, EngineFixture.post("/", "{\"sessionId\":5,\"messages\":[]}"))
                        .proxyError(400)
                        .get("param")
                        .asText())
                .isEqualTo("sessionId");
        assertThat(send(
                                engine,
                                EngineFixture.post(
                                        "/images/generations", "{\"sessionId\":\"" + id + "\",\"prompt\":\"x\"}"))
                        .proxyError(400)
                        .get("param")
                        .asText())
                .isEqualTo("sessionId");
        assertThat(send(
                                engine,
                                EngineFixture.post(
                                        "/",
                                        "{\"sessionId\":\"" + id + "\",\"includeHistory\":\"yes\",\"messages\":[]}"))
                        .proxyError(400)
                        .get("param")
                        .asText())
                .isEqualTo("includeHistory");
    }

    @Test
    void anUpstreamErrorRecordsNothing() {
        upstream.server()
                .stubFor(WireMock.post("/v1/chat/completions")
                        .willReturn(aResponse().withStatus(429).withBody("{\"error\":{\"message\":\"slow down\"}}")));
        engine(config(upstream.baseUrl()));
        String id = newSession();

        assertThat(send(engine, EngineFixture.post("/", chat(id, "Hi"))).status())
                .isEqualTo(429);
        assertThat(history(id)).isEmpty();
    }

    @Test
    void historyIsSentAsContextWhenAsked() {
        upstreamEchoes();
        engine(config(upstream.baseUrl()));
        String id = newSession();
        send(engine, EngineFixture.post("/", chat(id, "first")));
        upstream.server().resetRequests();

        String second = "{\"sessionId\":\"" + id + "\",\"includeHistory\":true,"
                + "\"messages\":[{\"role\":\"user\",\"content\":\"second\"}]}";
        assertThat(send(engine, EngineFixture.post("/", second)).status()).isEqualTo(200);

        JsonNode sent = Answer.parse(upstream.server()
                .findAll(postRequestedFor(urlEqualTo("/v1/chat/completions")))
                .get(0)
                .getBodyAsString());
        assertThat(sent.get("messages").findValuesAsText("content")).containsExactly("first", "re: first", "second");
        assertThat(sent.has("includeHistory")).isFalse();
        assertThat(history(id).findValuesAsText("content"))
                .containsExactly("first", "re: first", "second", "re: second");
    }

    @Test
    void historyAsContextCanBeTheDefaultAndTurnedOffPerRequest() {
        upstreamEchoes();
        engine(config(upstream.baseUrl()).sessions(SessionConfig.DEFAULTS.withHistoryAsContext(true)));
        String id = newSession();
        send(engine, EngineFixture.post("/", chat(id, "first")));
        send(engine, EngineFixture.post("/", chat(id, "second")));
        String third = "{\"sessionId\":\"" + id + "\",\"includeHistory\":false,"
                + "\"messages\":[{\"role\":\"user\",\"content\":\"third\"}]}";
        send(engine, EngineFixture.post("/", third));

        var requests = upstream.server().findAll(postRequestedFor(urlEqualTo("/v1/chat/completions")));
        List<List<String>> sent = new ArrayList<>();
        requests.forEach(
                r -> sent.add(Answer.parse(r.getBodyAsString()).get("messages").findValuesAsText("content")));
        assertThat(sent).containsExactly(List.of("first"), List.of("first", "re: first", "second"), List.of("third"));
    }

    @Test
    void aStreamedReplyIsRelayedUnchangedAndRecordedFromItsDeltas() {
        upstream.server()
                .stubFor(WireMock.post("/v1/chat/completions")
                        .willReturn(aResponse()
                                .withHeader("Content-Type", "text/event-stream")
                                .withBody(String.join("", STREAM))
                                .withChunkedDribbleDelay(5, 200)));
        engine(config(upstream.baseUrl()));
        String id = newSession();

        String body =
                "{\"sessionId\":\"" + id + "\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}";
        Answer a = send(engine, EngineFixture.post("/", body));

        assertThat(a.streaming()).isTrue();
        assertThat(a.items()).isEqualTo(STREAM);
        JsonNode messages = history(id);
        assertThat(messages.findValuesAsText("content")).containsExactly("Hi", "H\u00e9llo \u4f60\u597d");
        assertThat(messages.get(1).get("id").asText()).isEqualTo(a.header(ChatSessions.MESSAGE_ID_HEADER));
    }

    /** The stream is relayed as it arrives: the client has the first events while the upstream still writes. */
    @Test
    void aRecordedStreamIsNotBufferedAndAStreamThatBreaksRecordsNothing() throws Exception {
        try (RawUpstream raw = RawUpstream.start()) {
            engine(config(raw.baseUrl()));
            String id = newSession();
            String body = "{\"sessionId\":\"" + id
                    + "\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}";
            CompletableFuture<ProxyResponse> pending =
                    engine.handle(EngineFixture.post("/", body).build());
            TestSubscriber client = new TestSubscriber(Long.MAX_VALUE);
            try (RawUpstream.Connection c = raw.accept()) {
                c.write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n");
                c.writeChunk(STREAM.get(0) + STREAM.get(1));
                pending.get(30, TimeUnit.SECONDS).body().subscribe(client);
                client.awaitItems(2, Duration.ofSeconds(30));
                assertThat(client.texts()).containsExactly(STREAM.get(0), STREAM.get(1));
                assertThat(client.isCompleted()).isFalse();
            } // broken off before [DONE]
            client.terminated().get(30, TimeUnit.SECONDS);
            assertThat(client.texts().get(2)).contains("upstream_disconnected");
            assertThat(history(id)).isEmpty();
        }
    }

    /** 50 chats at once on one session: all 100 messages, in 50 question-answer pairs, numbered 1-100. */
    @Test
    void fiftyConcurrentChatsOnOneSessionRecordAllHundredMessagesInPairs() throws Exception {
        upstreamEchoes();
        engine(config(upstream.baseUrl()));
        fiftyConcurrentChats();
    }

    /** The same on the JDBC store (embedded H2), whose calls run on the engine's session threads. */
    @Test
    void fiftyConcurrentChatsOnAJdbcStore() throws Exception {
        upstreamEchoes();
        org.h2.jdbcx.JdbcDataSource h2 = new org.h2.jdbcx.JdbcDataSource();
        h2.setURL("jdbc:h2:mem:engine-" + java.util.UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
        engine = ProxyEngine.builder(config(upstream.baseUrl()).build())
                .sessions(io.github.openaiproxy.core.session.SessionStore.jdbc(h2))
                .build();
        fiftyConcurrentChats();
    }

    private void fiftyConcurrentChats() throws Exception {
        String id = newSession();
        List<CompletableFuture<Answer>> calls = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            calls.add(engine.handle(EngineFixture.post("/", chat(id, "q" + i)).build())
                    .thenApply(Answer::of));
        }
        for (CompletableFuture<Answer> c : calls) {
            assertThat(c.get(60, TimeUnit.SECONDS).status()).isEqualTo(200);
        }

        JsonNode messages = send(engine, get("/sessions/" + id + "/messages").rawQuery("limit=1000"))
                .json()
                .get("messages");
        assertThat(messages).hasSize(100);
        List<String> questions = new ArrayList<>();
        for (int i = 0; i < 100; i += 2) {
            JsonNode q = messages.get(i);
            JsonNode a = messages.get(i + 1);
            assertThat(q.get("sequence").asLong()).isEqualTo(i + 1);
            assertThat(a.get("sequence").asLong()).isEqualTo(i + 2);
            assertThat(q.get("isUser").asBoolean()).isTrue();
            assertThat(a.get("content").asText())
                    .isEqualTo("re: " + q.get("content").asText());
            questions.add(q.get("content").asText());
        }
        assertThat(questions).doesNotHaveDuplicates().hasSize(50);
    }

    @Test
    void sessionsCanBeTurnedOff() {
        engine(config(upstream.baseUrl()).sessions(SessionConfig.DEFAULTS.withEnabled(false)));
        assertThat(send(engine, EngineFixture.post("/sessions", "")).status()).isEqualTo(404);
        assertThat(engine.hasRoute("/sessions")).isFalse();
        assertThat(send(engine, EngineFixture.post("/", chat("ses_x", "Hi")))
                        .proxyError(400)
                        .get("message")
                        .asText())
                .contains("disabled");
    }
}
