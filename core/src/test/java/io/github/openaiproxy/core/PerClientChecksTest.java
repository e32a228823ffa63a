package io.github.openaiproxy.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.RejectedExecutionException;
import org.junit.jupiter.api.Test;

/** One client's share of a pool: counted while its tasks wait or run, given back however they end. */
class PerClientChecksTest {
    private final List<Runnable> queued = new ArrayList<>();

    @Test
    void aClientAtItsCapIsRefusedAndOthersAreNot() {
        PerClientChecks checks = new PerClientChecks(queued::add, 2);

        PerClientChecks.run("a", () -> {
            checks.execute(() -> {});
            checks.execute(() -> {});
            assertThatThrownBy(() -> checks.execute(() -> {})).isInstanceOf(PerClientChecks.ClientBusyException.class);
            return null;
        });
        PerClientChecks.run("b", () -> {
            checks.execute(() -> {});
            return null;
        });

        assertThat(queued).hasSize(3);
        queued.forEach(Runnable::run);
        assertThat(checks.clients()).isZero();
    }

    @Test
    void aTaskThePoolRefusesOrThatFailsGivesItsPlaceBack() {
        PerClientChecks full = new PerClientChecks(
                task -> {
                    throw new RejectedExecutionException("queue full");
                },
                1);
        PerClientChecks running = new PerClientChecks(Runnable::run, 1);

        PerClientChecks.run("a", () -> {
            assertThatThrownBy(() -> full.execute(() -> {})).isNotInstanceOf(PerClientChecks.ClientBusyException.class);
            assertThatThrownBy(() -> running.execute(() -> {
                        throw new IllegalStateException("store down");
                    }))
                    .isInstanceOf(IllegalStateException.class);
            running.execute(() -> {}); // its one place is free again
            return null;
        });

        assertThat(full.clients()).isZero();
        assertThat(running.clients()).isZero();
    }

    @Test
    void tasksHandedOverOutsideARequestAreNotCounted() {
        PerClientChecks checks = new PerClientChecks(queued::add, 1);
        checks.execute(() -> {});
        checks.execute(() -> {});

        assertThat(queued).hasSize(2);
        assertThat(checks.clients()).isZero();
    }
}
