package io.github.openaiproxy.core.limits;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeoutException;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;

/** The limit step's timeout on the store's answers: late ones fail as with orTimeout, the others are left alone. */
class StoreDeadlinesTest {
    @Test
    void anAnswerLaterThanTheTimeoutFailsWithATimeoutAndTheOthersAreLeftAlone() {
        StoreDeadlines deadlines = new StoreDeadlines(Duration.ofMillis(50));
        CompletableFuture<String> answered = deadlines.timed(new CompletableFuture<>());
        CompletableFuture<String> never = deadlines.timed(new CompletableFuture<>());
        CompletableFuture<String> done = deadlines.timed(CompletableFuture.completedFuture("at once"));
        answered.complete("in time");

        Awaitility.await().atMost(Duration.ofSeconds(5)).until(never::isDone);
        assertThat(never)
                .failsWithin(Duration.ZERO)
                .withThrowableOfType(Exception.class)
                .withCauseInstanceOf(TimeoutException.class);
        assertThat(answered).isCompletedWithValue("in time");
        assertThat(done).isCompletedWithValue("at once");
    }

    @Test
    void answersWaitedForLaterAreTimedOutToo() {
        StoreDeadlines deadlines = new StoreDeadlines(Duration.ofMillis(20));
        List<CompletableFuture<String>> waves = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            CompletableFuture<String> f = deadlines.timed(new CompletableFuture<>());
            waves.add(f);
            // The next wave is waited for once the check that failed this one has disarmed itself.
            Awaitility.await().atMost(Duration.ofSeconds(5)).until(f::isCompletedExceptionally);
        }
        assertThat(waves).allMatch(CompletableFuture::isCompletedExceptionally);
    }
}
