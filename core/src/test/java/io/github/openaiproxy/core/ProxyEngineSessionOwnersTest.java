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
import io.github.openaiproxy.core.http.AuthenticatedUser;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.session.MessagePage;
import io.github.openaiproxy.core.session.NewMessage;
import io.github.openaiproxy.core.session.Session;
import io.github.openaiproxy.core.session.SessionStore;
import io.github.openaiproxy.core.session.StoredMessage;
import io.github.openaiproxy.core.testing.Answer;
import io.github.openaiproxy.testsupport.WireMockUpstream;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import org.h2.jdbcx.JdbcDataSource;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Sessions belong to their owner: a session created by an identified caller does not exist for anyone else,
 * on every route (the same 404 as an id that never existed, and no upstream call); a session created
 * anonymously stays usable by whoever holds its id. On the in-memory and on the JDBC store.
 */
class ProxyEngineSessionOwnersTest {
    @RegisterExtension
    static final WireMockUpstream upstream = new WireMockUpstream();

    /** An id no session has: what "does not exist" looks like. */
    static final String UNKNOWN = "ses_AAAAAAAAAAAAAAAAAAAAAA";

    static final AuthenticatedUser ALICE = new AuthenticatedUser("alice", role -> false);
    static final AuthenticatedUser BOB = new AuthenticatedUser("bob", role -> false);

    private ProxyEngine engine;
    private SessionStore store;

    @AfterEach
    void close() {
        if (engine != null) {
            engine.close();
        }
    }

    private void start(boolean jdbc) {
        if (jdbc) {
            JdbcDataSource h2 = new JdbcDataSource();
            h2.setURL("jdbc:h2:mem:owners-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
            store = SessionStore.jdbc(h2);
        } else {
            store = SessionStore.inMemory();
        }
        start(store);
    }

    private void start(SessionStore sessions) {
        engine = ProxyEngine.builder(config(upstream.baseUrl()).build())
                .sessions(sessions)
                .build();
    }

    private static void upstreamEchoes() {
        upstream.server()
                .stubFor(WireMock.post("/v1/chat/completions")
                        .willReturn(aResponse()
                                .withHeader("Content-Type", "application/json")
                                .withBody(ProxyEngineSessionsTest.ECHO_COMPLETION)
                                .withTransformers("response-template")));
    }

    /** The request as {@code user} sends it ({@code null}: an anonymous caller). */
    private Answer as(AuthenticatedUser user, ProxyRequest.Builder request) {
        return send(engine, request.user(user));
    }

    private String create(AuthenticatedUser user) {
        Answer created = as(user, EngineFixture.post("/sessions", ""));
        assertThat(created.status()).as(created.text()).isEqualTo(201);
        return created.json().get("sessionId").asText();
    }

    private static ProxyRequest.Builder chat(String sessionId, String content, boolean includeHistory) {
        return EngineFixture.post(
                "/",
                "{\"sessionId\":\"" + sessionId + "\",\"includeHistory\":" + includeHistory
                        + ",\"messages\":[{\"role\":\"user\",\"content\":\"" + content + "\"}]}");
    }

    private List<String> history(AuthenticatedUser user, String id) {
        Answer a = as(user, get("/sessions/" + id + "/messages"));
        assertThat(a.status()).as(a.text()).isEqualTo(200);
        return a.json().get("messages").findValuesAsText("content");
    }

    /** Asserts the answer is exactly what an id that never existed gets: status, headers that matter, body. */
    private void assertLooksUnknown(Answer answer, Answer unknown) {
        assertThat(answer.status()).isEqualTo(404);
        assertThat(answer.text()).isEqualTo(unknown.text());
        assertThat(answer.header("Content-Type")).isEqualTo(unknown.header("Content-Type"));
        assertThat(answer.header("Content-Length")).isEqualTo(unknown.header("Content-Length"));
    }

    @Test
    void onPostgresAnOwnerWithALoneSurrogateOrAControlCharacterSharesNoSessionWithAnother() {
        // PostgreSQL keeps text as UTF-8, where an unpaired surrogate becomes '?': the session of "a\uD800" was
        // the session of "a?" (and NUL is refused outright).
        String url = System.getenv("OPENAI_PROXY_TEST_PG_URL");
        org.junit.jupiter.api.Assumptions.assumeTrue(url != null, "OPENAI_PROXY_TEST_PG_URL not set");
        org.postgresql.ds.PGSimpleDataSource pg = new org.postgresql.ds.PGSimpleDataSource();
        pg.setUrl(url);
        pg.setUser(System.getenv("OPENAI_PROXY_TEST_PG_USER"));
        pg.setPassword(System.getenv("OPENAI_PROXY_TEST_PG_PASSWORD"));
        start(SessionStore.jdbc(pg));
        AuthenticatedUser question = new AuthenticatedUser("a?", role -> false);
        for (String name : List.of("a\uD800", "a\u0000")) {
            AuthenticatedUser owner = new AuthenticatedUser(name, role -> false);
            String id = create(owner);
            assertThat(history(owner, id)).isEmpty();
            assertThat(as(question, get("/sessions/" + id + "/messages")).status())
                    .as(name)
                    .isEqualTo(404);
        }
    }

    @ParameterizedTest(name = "jdbc={0}")
    @ValueSource(booleans = {false, true})
    void anOwnedSessionDoesNotExistForAnyoneElseOnTheRestRoutes(boolean jdbc) {
        upstreamEchoes();
        start(jdbc);
        String id = create(ALICE);
        assertThat(as(ALICE, chat(id, "secret plan", false)).status()).isEqualTo(200);

        for (AuthenticatedUser other : new AuthenticatedUser[] {BOB, null}) {
            assertLooksUnknown(as(other, get("/sessions/" + id)), as(other, get("/sessions/" + UNKNOWN)));
            assertLooksUnknown(
                    as(other, get("/sessions/" + id + "/messages")),
                    as(other, get("/sessions/" + UNKNOWN + "/messages")));
            assertLooksUnknown(
                    as(other, get("/sessions/" + id + "/messages").rawQuery("after=0&limit=1")),
                    as(other, get("/sessions/" + UNKNOWN + "/messages").rawQuery("after=0&limit=1")));
            assertLooksUnknown(
                    as(other, ProxyRequest.builder("DELETE", "/sessions/" + id)),
                    as(other, ProxyRequest.builder("DELETE", "/sessions/" + UNKNOWN)));
        }

        // Nothing of that touched the session: its owner still has all of it.
        assertThat(as(ALICE, get("/sessions/" + id)).status()).isEqualTo(200);
        assertThat(history(ALICE, id)).containsExactly("secret plan", "re: secret plan");
        assertThat(as(ALICE, ProxyRequest.builder("DELETE", "/sessions/" + id)).status())
                .isEqualTo(200);
        assertThat(as(ALICE, get("/sessions/" + id)).status()).isEqualTo(404);
    }

    @ParameterizedTest(name = "jdbc={0}")
    @ValueSource(booleans = {false, true})
    void anotherCallersTurnInAnOwnedSessionIs404WithoutAnUpstreamCallWithOrWithoutHistory(boolean jdbc) {
        upstreamEchoes();
        start(jdbc);
        String id = create(ALICE);
        assertThat(as(ALICE, chat(id, "first", false)).status()).isEqualTo(200);
        upstream.server().resetRequests();

        Answer unknown = as(BOB, chat(UNKNOWN, "hi", false));
        assertThat(unknown.status()).isEqualTo(404);
        for (AuthenticatedUser other : new AuthenticatedUser[] {BOB, null}) {
            // Appending to her session and replaying her history are refused alike.
            assertLooksUnknown(as(other, chat(id, "let me in", false)), unknown);
            assertLooksUnknown(as(other, chat(id, "what did she say?", true)), unknown);
            String streamed = "{\"sessionId\":\"" + id + "\",\"stream\":true,\"includeHistory\":true,"
                    + "\"messages\":[{\"role\":\"user\",\"content\":\"and streamed?\"}]}";
            assertLooksUnknown(as(other, EngineFixture.post("/", streamed)), unknown);
        }
        assertThat(upstream.server().getAllServeEvents()).isEmpty();
        assertThat(history(ALICE, id)).containsExactly("first", "re: first");

        // The owner's replay still works, with her history as context.
        assertThat(as(ALICE, chat(id, "second", true)).status()).isEqualTo(200);
        JsonNode sent = Answer.parse(upstream.server()
                .findAll(postRequestedFor(urlEqualTo("/v1/chat/completions")))
                .get(0)
                .getBodyAsString());
        assertThat(sent.get("messages").findValuesAsText("content")).containsExactly("first", "re: first", "second");
    }

    @ParameterizedTest(name = "jdbc={0}")
    @ValueSource(booleans = {false, true})
    void aSessionCreatedAnonymouslyIsUsableByAnyoneHoldingItsId(boolean jdbc) {
        upstreamEchoes();
        start(jdbc);
        String id = create(null);
        assertThat(store.find(id).orElseThrow().owner()).isEmpty();

        assertThat(as(ALICE, chat(id, "from alice", false)).status()).isEqualTo(200);
        assertThat(as(BOB, chat(id, "from bob", true)).status()).isEqualTo(200);
        assertThat(as(null, chat(id, "from nobody", false)).status()).isEqualTo(200);
        assertThat(history(BOB, id))
                .containsExactly(
                        "from alice", "re: from alice", "from bob", "re: from bob", "from nobody", "re: from nobody");
        assertThat(as(ALICE, ProxyRequest.builder("DELETE", "/sessions/" + id)).status())
                .isEqualTo(200);
    }

    /** The owner recorded is the identity's owner id, and a user's session is not another kind's of that name. */
    @ParameterizedTest(name = "jdbc={0}")
    @ValueSource(booleans = {false, true})
    void theStoreKeepsTheCreatorsOwnerId(boolean jdbc) {
        start(jdbc);
        String id = create(ALICE);
        Session s = store.find(id).orElseThrow();
        assertThat(s.ownerId()).isEqualTo("user:alice");
        assertThat(s.isUsableBy("user:alice")).isTrue();
        assertThat(s.isUsableBy("token:alice")).isFalse();
        assertThat(s.isUsableBy("proxy_key:alice")).isFalse();
        assertThat(s.isUsableBy(null)).isFalse();
        // User names are matched exactly: no case folding, no trimming.
        assertThat(as(new AuthenticatedUser("Alice", r -> false), get("/sessions/" + id))
                        .status())
                .isEqualTo(404);
        assertThat(as(new AuthenticatedUser("alice ", r -> false), get("/sessions/" + id))
                        .status())
                .isEqualTo(404);
    }

    /**
     * A store written before sessions had owners keeps working for anonymous callers, and refuses (503) to
     * create a session for an identified one rather than drop its owner.
     */
    @Test
    void aStoreThatCannotRecordOwnersRefusesOwnedSessions() {
        start(new LegacyStore(SessionStore.inMemory()));
        assertThat(create(null)).startsWith("ses_");
        Answer refused = as(ALICE, EngineFixture.post("/sessions", ""));
        assertThat(refused.proxyError(503).get("message").asText()).isEqualTo("The session store is unavailable");
        assertThat(refused.text()).doesNotContain("LegacyStore");
    }

    /** A store that implements only the methods every store had before owners (as a third party's would). */
    private record LegacyStore(SessionStore delegate) implements SessionStore {
        @Override
        public Session create() {
            return delegate.create();
        }

        @Override
        public Optional<Session> find(String sessionId) {
            return delegate.find(sessionId);
        }

        @Override
        public Optional<List<StoredMessage>> append(String sessionId, List<NewMessage> messages) {
            return delegate.append(sessionId, messages);
        }

        @Override
        public Optional<MessagePage> messages(String sessionId, long afterSequence, int limit) {
            return delegate.messages(sessionId, afterSequence, limit);
        }

        @Override
        public Optional<List<StoredMessage>> latest(String sessionId, int limit) {
            return delegate.latest(sessionId, limit);
        }

        @Override
        public boolean delete(String sessionId) {
            return delegate.delete(sessionId);
        }

        @Override
        public boolean blocking() {
            return false;
        }
    }
}
