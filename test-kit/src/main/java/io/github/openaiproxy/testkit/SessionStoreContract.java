package io.github.openaiproxy.testkit;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.session.MessagePage;
import io.github.openaiproxy.core.session.NewMessage;
import io.github.openaiproxy.core.session.Session;
import io.github.openaiproxy.core.session.SessionIds;
import io.github.openaiproxy.core.session.SessionStore;
import io.github.openaiproxy.core.session.StoredMessage;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The {@link SessionStore} compatibility kit: every implementation runs this suite by extending it and
 * saying how to get the store under test (core's in-memory store, the JDBC store on H2 and PostgreSQL, and
 * any store of another project).
 *
 * <pre>{@code
 * class RedisSessionStoreTest extends SessionStoreContract {
 *     private final SessionStore store = RedisSessionStore.create(redis);
 *
 *     protected SessionStore store() {
 *         return store;
 *     }
 * }
 * }</pre>
 *
 * <p>A store keeps each session's owner ({@link SessionStore#create(String)}); the engine, not the store,
 * decides who may use a session.
 */
public abstract class SessionStoreContract {
    /** The store under test; the same one for every test of a class is fine (ids never collide). */
    protected abstract SessionStore store();

    /** A new message of this role and text, with a fresh id and the current time. */
    protected static NewMessage message(String role, String content) {
        return new NewMessage(
                SessionIds.newMessageId(), role, content, null, Instant.now().truncatedTo(ChronoUnit.MILLIS));
    }

    @Test
    protected void createdSessionsHaveUnguessableUrlSafeIds() {
        Set<String> ids = new HashSet<>();
        for (int i = 0; i < 20; i++) {
            Session s = store().create();
            assertThat(s.id()).matches("ses_[A-Za-z0-9_-]{22}"); // 22 base64 characters: 128 random bits
            ids.add(s.id());
        }
        assertThat(ids).hasSize(20);
    }

    @Test
    protected void findsWhatItCreatedAndNothingElse() {
        Session s = store().create();
        assertThat(store().find(s.id())).hasValueSatisfying(found -> {
            assertThat(found.id()).isEqualTo(s.id());
            assertThat(found.createdAt())
                    .isCloseTo(s.createdAt(), org.assertj.core.api.Assertions.within(1, ChronoUnit.MILLIS));
        });
        assertThat(store().exists(s.id())).isTrue();
        assertThat(store().exists(SessionIds.newSessionId())).isFalse();
    }

    /**
     * A session keeps the owner it was created with, exactly (owner ids are {@code kind:subject}, and a JWT's
     * subject may be long and not ASCII); a session created without one has none.
     */
    @Test
    protected void aSessionKeepsTheOwnerItWasCreatedWith() {
        String longOwner = "token:https://login.example/realms/\u00e9quipe#" + "s".repeat(1500);
        Session alice = store().create("user:alice");
        Session token = store().create(longOwner);
        Session unowned = store().create();
        Session explicitlyUnowned = store().create(null);

        assertThat(alice.ownerId()).isEqualTo("user:alice");
        assertThat(store().find(alice.id()).orElseThrow().ownerId()).isEqualTo("user:alice");
        assertThat(store().find(token.id()).orElseThrow().ownerId()).isEqualTo(longOwner);
        assertThat(store().find(unowned.id()).orElseThrow().owner()).isEmpty();
        assertThat(store().find(explicitlyUnowned.id()).orElseThrow().owner()).isEmpty();
        // The owner stays with its session through the session's use.
        store().append(alice.id(), List.of(message("user", "mine")));
        assertThat(store().find(alice.id()).orElseThrow().ownerId()).isEqualTo("user:alice");
    }

    /** The size counts UTF-8 bytes of the text and of the JSON content, and survives reads. */
    @Test
    protected void theSizeOfASessionIsTheBytesOfItsMessages() {
        Session s = store().create();
        assertThat(store().size(s.id())).contains(0L);
        store().append(
                        s.id(),
                        List.of(
                                message("user", "h\u00e9 \u4f60 \ud83d\ude00"), // 1+2+1+3+1+4 bytes
                                new NewMessage(
                                        SessionIds.newMessageId(),
                                        "user",
                                        "ab",
                                        "[{\"text\":\"ab\"}]",
                                        Instant.now().truncatedTo(ChronoUnit.MILLIS))));
        assertThat(store().size(s.id())).contains(12L + 2 + 15);
        assertThat(store().size(SessionIds.newSessionId())).isEmpty();
    }

    /** A page stops at its byte budget, holds at least one message, and the cursor continues it. */
    @Test
    protected void aPageStopsAtItsByteBudgetAndTheCursorContinuesIt() {
        Session s = store().create();
        List<NewMessage> batch = new ArrayList<>();
        for (int i = 0; i < 7; i++) {
            batch.add(message("user", String.valueOf((char) ('a' + i)).repeat(i == 3 ? 500 : 100)));
        }
        store().append(s.id(), batch);

        List<Integer> pageSizes = new ArrayList<>();
        List<String> read = new ArrayList<>();
        long after = 0;
        boolean more = true;
        while (more) {
            MessagePage page = store().messages(s.id(), after, 1000, 250).orElseThrow();
            assertThat(page.messages()).isNotEmpty();
            pageSizes.add(page.messages().size());
            page.messages().forEach(m -> read.add(m.content().substring(0, 1)));
            more = page.hasMore();
            after = page.nextAfter();
        }
        // 100+100 fit in 250; the 500-byte message is alone on its page (a page never stays empty).
        assertThat(pageSizes).containsExactly(2, 1, 1, 2, 1);
        assertThat(read).containsExactly("a", "b", "c", "d", "e", "f", "g");
        // The message limit still applies within the budget.
        assertThat(store().messages(s.id(), 0, 1, 10_000).orElseThrow().messages())
                .hasSize(1);
    }

    @Test
    protected void malformedIdsAreUnknownNotErrors() {
        for (String id : new String[] {"", " ", "x'; DROP TABLE x; --", "../etc", "a".repeat(65), "ses_\u00e9"}) {
            assertThat(store().find(id)).as(id).isEmpty();
            assertThat(store().append(id, List.of(message("user", "hi"))))
                    .as(id)
                    .isEmpty();
            assertThat(store().messages(id, 0, 10)).as(id).isEmpty();
            assertThat(store().latest(id, 10)).as(id).isEmpty();
            assertThat(store().delete(id)).as(id).isFalse();
        }
    }

    @Test
    protected void appendGivesConsecutiveSequenceNumbersInOrder() {
        Session s = store().create();
        List<StoredMessage> first = store().append(s.id(), List.of(message("user", "one"), message("assistant", "two")))
                .orElseThrow();
        List<StoredMessage> second =
                store().append(s.id(), List.of(message("user", "three"))).orElseThrow();

        assertThat(first).extracting(StoredMessage::sequence).containsExactly(1L, 2L);
        assertThat(second).extracting(StoredMessage::sequence).containsExactly(3L);
        assertThat(store().messages(s.id(), 0, 10).orElseThrow().messages())
                .extracting(StoredMessage::content)
                .containsExactly("one", "two", "three");
    }

    @Test
    protected void messagesRoundTripExactly() {
        Session s = store().create();
        Instant at = Instant.parse("2025-01-02T03:04:05.678Z");
        String long100k = "x".repeat(100_000);
        NewMessage plain =
                new NewMessage("msg_a", "user", "H\u00e9llo \u4f60\u597d \ud83d\ude00 \"quoted\" \\n", null, at);
        NewMessage parts =
                new NewMessage("msg_b", "user", "look", "[{\"type\":\"text\",\"text\":\"look\"}]", at.plusMillis(1));
        NewMessage big = new NewMessage("msg_c", "assistant", long100k, null, at.plusMillis(2));
        store().append(s.id(), List.of(plain, parts, big));

        List<StoredMessage> read = store().messages(s.id(), 0, 10).orElseThrow().messages();
        assertThat(read).hasSize(3);
        assertThat(read.get(0)).isEqualTo(new StoredMessage("msg_a", s.id(), 1, "user", plain.content(), null, at));
        assertThat(read.get(0).isUser()).isTrue();
        assertThat(read.get(1).contentJson()).isEqualTo(parts.contentJson());
        assertThat(read.get(1).timestamp()).isEqualTo(at.plusMillis(1));
        assertThat(read.get(2).content()).isEqualTo(long100k);
        assertThat(read.get(2).isUser()).isFalse();
    }

    @Test
    protected void pagesFollowTheSequence() {
        Session s = store().create();
        List<NewMessage> five = new ArrayList<>();
        for (int i = 1; i <= 5; i++) {
            five.add(message(i % 2 == 1 ? "user" : "assistant", "m" + i));
        }
        store().append(s.id(), five);

        MessagePage p1 = store().messages(s.id(), 0, 2).orElseThrow();
        assertThat(p1.messages()).extracting(StoredMessage::content).containsExactly("m1", "m2");
        assertThat(p1.hasMore()).isTrue();
        MessagePage p2 = store().messages(s.id(), p1.nextAfter(), 2).orElseThrow();
        assertThat(p2.messages()).extracting(StoredMessage::content).containsExactly("m3", "m4");
        MessagePage p3 = store().messages(s.id(), p2.nextAfter(), 2).orElseThrow();
        assertThat(p3.messages()).extracting(StoredMessage::content).containsExactly("m5");
        assertThat(p3.hasMore()).isFalse();
        MessagePage past = store().messages(s.id(), 5, 2).orElseThrow();
        assertThat(past.messages()).isEmpty();
        assertThat(past.hasMore()).isFalse();
        assertThat(past.nextAfter()).isZero();
    }

    @Test
    protected void latestGivesTheLastMessagesInOrder() {
        Session s = store().create();
        assertThat(store().latest(s.id(), 3)).hasValue(List.of());
        store().append(s.id(), List.of(message("user", "a"), message("assistant", "b")));
        store().append(s.id(), List.of(message("user", "c"), message("assistant", "d")));

        assertThat(store().latest(s.id(), 3).orElseThrow())
                .extracting(StoredMessage::content)
                .containsExactly("b", "c", "d");
        assertThat(store().latest(s.id(), 10).orElseThrow()).hasSize(4);
    }

    @Test
    protected void recentHistoryGivesTheSizeAndTheLastMessages() {
        Session s = store().create();
        assertThat(store().recentHistory(s.id(), 3)).hasValue(new SessionStore.RecentHistory(0, List.of()));
        store().append(s.id(), List.of(message("user", "a"), message("assistant", "b")));
        store().append(s.id(), List.of(message("user", "c"), message("assistant", "d")));

        SessionStore.RecentHistory recent = store().recentHistory(s.id(), 3).orElseThrow();
        assertThat(recent.messages()).extracting(StoredMessage::content).containsExactly("b", "c", "d");
        assertThat(recent.size()).isEqualTo(store().size(s.id()).orElseThrow()).isPositive();
        assertThat(store().recentHistory("unknown-" + s.id(), 3)).isEmpty();
        store().delete(s.id());
        assertThat(store().recentHistory(s.id(), 3)).isEmpty();
    }

    @Test
    protected void sessionsAreSeparate() {
        Session a = store().create();
        Session b = store().create();
        store().append(a.id(), List.of(message("user", "for a")));
        assertThat(store().messages(b.id(), 0, 10).orElseThrow().messages()).isEmpty();
        assertThat(store().append(b.id(), List.of(message("user", "for b")))
                        .orElseThrow()
                        .get(0)
                        .sequence())
                .isEqualTo(1);
    }

    @Test
    protected void deleteRemovesTheSessionAndItsMessages() {
        Session s = store().create();
        store().append(s.id(), List.of(message("user", "bye")));

        assertThat(store().delete(s.id())).isTrue();
        assertThat(store().find(s.id())).isEmpty();
        assertThat(store().messages(s.id(), 0, 10)).isEmpty();
        assertThat(store().append(s.id(), List.of(message("user", "again")))).isEmpty();
        assertThat(store().delete(s.id())).isFalse();
    }

    /** 50 turns at once on one session: all 100 messages, sequences 1-100, each question right before its answer. */
    @Test
    protected void concurrentAppendsKeepEveryTurnTogether() throws Exception {
        Session s = store().create();
        int turns = 50;
        ExecutorService pool = Executors.newFixedThreadPool(16);
        CountDownLatch go = new CountDownLatch(1);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int i = 0; i < turns; i++) {
                int n = i;
                done.add(pool.submit(() -> {
                    go.await();
                    return store().append(s.id(), List.of(message("user", "q" + n), message("assistant", "a" + n)))
                            .orElseThrow();
                }));
            }
            go.countDown();
            for (Future<?> f : done) {
                f.get(60, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        List<StoredMessage> all =
                store().messages(s.id(), 0, 1000).orElseThrow().messages();
        assertThat(all).hasSize(2 * turns);
        assertThat(all).extracting(StoredMessage::sequence).containsExactlyElementsOf(sequence(1, 2 * turns));
        for (int i = 0; i < all.size(); i += 2) {
            String q = all.get(i).content();
            assertThat(q).startsWith("q");
            assertThat(all.get(i + 1).content()).isEqualTo("a" + q.substring(1));
        }
        assertThat(all.stream()
                        .map(StoredMessage::content)
                        .filter(c -> c.startsWith("q"))
                        .distinct())
                .hasSize(turns);
    }

    /** The numbers {@code from} to {@code to}, both included. */
    protected static List<Long> sequence(long from, long to) {
        List<Long> out = new ArrayList<>();
        for (long i = from; i <= to; i++) {
            out.add(i);
        }
        return out;
    }
}
