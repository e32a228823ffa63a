package io.github.openaiproxy.core.session;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.openaiproxy.testkit.ManualClock;
import io.github.openaiproxy.testkit.SessionStoreContract;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class InMemorySessionStoreTest extends SessionStoreContract {
    private final SessionStore store = SessionStore.inMemory();

    @Override
    protected SessionStore store() {
        return store;
    }

    @Test
    void doesNotBlock() {
        assertThat(store.blocking()).isFalse();
    }

    @Test
    void aFullStoreEvictsTheLeastRecentlyUsedSession() {
        SessionStore small = InMemorySessionStore.builder()
                .limits(new InMemorySessionStore.Limits(2, 10, Duration.ofHours(1)))
                .build();
        Session a = small.create();
        Session b = small.create();
        small.find(a.id()); // a is now more recently used than b
        Session c = small.create();

        assertThat(small.exists(a.id())).isTrue();
        assertThat(small.exists(b.id())).isFalse();
        assertThat(small.exists(c.id())).isTrue();
    }

    @Test
    void anonymousCallersCreatingSessionsInALoopEvictOnlyUnownedOnes() {
        SessionStore small = InMemorySessionStore.builder()
                .limits(new InMemorySessionStore.Limits(10, 10, Duration.ofHours(1)))
                .build();
        Session alices = small.create("user:alice");
        Session first = small.create();

        for (int i = 0; i < 100; i++) {
            small.create(); // unowned: an anonymous caller's
        }

        assertThat(small.exists(alices.id())).isTrue();
        assertThat(small.exists(first.id())).isFalse();
    }

    @Test
    void oneOwnerCreatingSessionsInALoopRecyclesItsOwn() {
        SessionStore store = InMemorySessionStore.builder()
                .limits(new InMemorySessionStore.Limits(300, 10, Duration.ofHours(1)))
                .build();
        Session bobs = store.create("key:bob");
        List<Session> mallorys = new java.util.ArrayList<>();
        for (int i = 0; i < 400; i++) {
            mallorys.add(store.create("key:mallory"));
        }

        assertThat(store.exists(bobs.id())).isTrue();
        assertThat(mallorys.stream().filter(m -> store.exists(m.id())))
                .as("a hundred kept, the newest")
                .hasSize(100)
                .containsExactlyElementsOf(mallorys.subList(300, 400));
    }

    @Test
    void aSessionOverItsBoundDropsItsOldestMessages() {
        SessionStore small = InMemorySessionStore.builder()
                .limits(new InMemorySessionStore.Limits(10, 3, Duration.ofHours(1)))
                .build();
        Session s = small.create();
        for (int i = 1; i <= 5; i++) {
            small.append(s.id(), List.of(message("user", "m" + i)));
        }
        assertThat(small.messages(s.id(), 0, 10).orElseThrow().messages())
                .extracting(StoredMessage::sequence)
                .containsExactly(3L, 4L, 5L);
    }

    @Test
    void anonymousTurnsOverTheByteBoundEvictAnonymousSessionsAndNeverAnOwnedOne() {
        SessionStore small = InMemorySessionStore.builder()
                .limits(new InMemorySessionStore.Limits(100, 100, Duration.ofHours(1), 1_000))
                .build();
        Session alices = small.create("user:alice");
        small.append(alices.id(), List.of(message("user", "a".repeat(500))));
        List<Session> anonymous = new java.util.ArrayList<>();
        for (int i = 0; i < 20; i++) {
            Session s = small.create();
            anonymous.add(s);
            small.append(s.id(), List.of(message("user", "x".repeat(300))));
        }

        assertThat(small.size(alices.id())).contains(500L);
        assertThat(anonymous.stream().filter(s -> small.exists(s.id())))
                .as("the newest that fit beside alice's 500 bytes")
                .containsExactlyElementsOf(anonymous.subList(19, 20));
        // Alone beside an owned session, an anonymous one keeps its latest turn, not its older ones.
        Session last = anonymous.get(19);
        small.append(last.id(), List.of(message("user", "y".repeat(300))));
        small.append(last.id(), List.of(message("user", "z".repeat(300))));
        assertThat(small.messages(last.id(), 0, 10).orElseThrow().messages())
                .extracting(StoredMessage::content)
                .containsExactly("z".repeat(300));
        assertThat(small.size(alices.id())).contains(500L);
    }

    @Test
    void anOwnedTurnOverTheByteBoundEvictsAnonymousSessionsFirst() {
        SessionStore small = InMemorySessionStore.builder()
                .limits(new InMemorySessionStore.Limits(100, 100, Duration.ofHours(1), 1_000))
                .build();
        Session bobs = small.create("key:bob");
        small.append(bobs.id(), List.of(message("user", "b".repeat(300))));
        Session anonymous = small.create();
        small.append(anonymous.id(), List.of(message("user", "x".repeat(300))));
        Session alices = small.create("user:alice");
        small.append(alices.id(), List.of(message("user", "a".repeat(300))));

        small.append(alices.id(), List.of(message("user", "a".repeat(300))));

        assertThat(small.exists(anonymous.id())).isFalse();
        assertThat(small.exists(bobs.id())).isTrue();
        assertThat(small.size(alices.id())).contains(600L);

        small.append(alices.id(), List.of(message("user", "a".repeat(300))));

        assertThat(small.exists(bobs.id()))
                .as("then the least recently used owned one")
                .isFalse();
        assertThat(small.size(alices.id())).contains(900L);
    }

    @Test
    void anIdleSessionExpires() {
        ManualClock clock = new ManualClock();
        SessionStore expiring = InMemorySessionStore.builder()
                .limits(new InMemorySessionStore.Limits(10, 10, Duration.ofMinutes(30)))
                .clock(clock)
                .build();
        Session used = expiring.create();
        Session idle = expiring.create();
        clock.advance(Duration.ofMinutes(20));
        expiring.append(used.id(), List.of(message("user", "still here")));
        clock.advance(Duration.ofMinutes(20));

        assertThat(expiring.exists(used.id())).isTrue();
        assertThat(expiring.exists(idle.id())).isFalse();
        assertThat(expiring.messages(idle.id(), 0, 10)).isEmpty();
    }

    @Test
    void limitsMustBePositive() {
        assertThatThrownBy(() -> new InMemorySessionStore.Limits(0, 1, Duration.ofHours(1)))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new InMemorySessionStore.Limits(1, 1, Duration.ZERO))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new InMemorySessionStore.Limits(1, 1, Duration.ofHours(1), 0))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> store.messages(store.create().id(), 0, 0))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
