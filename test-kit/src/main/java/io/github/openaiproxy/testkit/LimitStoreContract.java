package io.github.openaiproxy.testkit;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.limits.Adjustment;
import io.github.openaiproxy.core.limits.Admission;
import io.github.openaiproxy.core.limits.Charge;
import io.github.openaiproxy.core.limits.Counter;
import io.github.openaiproxy.core.limits.LimitStore;
import io.github.openaiproxy.core.limits.Reservation;
import io.github.openaiproxy.core.limits.Window;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The {@link LimitStore} compatibility kit: every store (core's in-memory, JDBC and Redis stores, and any store
 * of another project) runs this suite by extending it and saying how to get the store under test. The same
 * store may serve every test of a class: each test counts for subjects of its own.
 *
 * <p>Times are explicit ({@link Reservation#nowMillis()}, the caller's clock), as a {@link ManualClock} gives
 * them: a test moves through minutes, days and months without waiting. They start a little after the real
 * time, so a shared store's clean-up of ended windows (on its own clock) never removes a test's counters.
 *
 * <pre>{@code
 * class RedisLimitStoreTest extends LimitStoreContract {
 *     private final LimitStore store = RedisLimitStore.connect(url);
 *
 *     protected LimitStore store() {
 *         return store;
 *     }
 *
 *     protected LimitStore secondInstance() {  // optional: another instance on the same backend
 *         return other;
 *     }
 * }
 * }</pre>
 */
public abstract class LimitStoreContract {
    /** The concurrent requests of the exactness tests, and the limit they compete for. */
    protected static final int REQUESTS = 300;

    protected static final int LIMIT = 100;

    private static final Window MINUTE = new Window.Rolling(Duration.ofMinutes(1));

    /** The store under test. */
    protected abstract LimitStore store();

    /**
     * Another instance of the store on the same backend (another client, another data source), or {@code null}
     * when the store is local to its instance: then the tests of counting across instances are skipped.
     */
    protected LimitStore secondInstance() {
        return null;
    }

    /**
     * Whether the store remembers the ids of charges counted later ({@link LimitStore#count}) and of settlements:
     * a store that can fail after it applied them (a shared one) should; then the kit checks that a charge of one id
     * counts once. The memory store, which never fails, need not.
     */
    protected boolean remembersIds() {
        return false;
    }

    /** A subject no other test uses. */
    protected static String newSubject() {
        return "kit|" + UUID.randomUUID();
    }

    /** A time (epoch ms) a little after the real clock's. */
    protected static long soon() {
        return System.currentTimeMillis() + 1_000;
    }

    protected static Counter rolling(String name, long limit, Duration length) {
        return new Counter(name, limit, new Window.Rolling(length));
    }

    protected static Counter perMinute(String name, long limit) {
        return new Counter(name, limit, MINUTE);
    }

    protected static Counter calendar(String name, long limit, Window.Period period) {
        return new Counter(name, limit, new Window.Calendar(period));
    }

    protected static Counter leases(String name, long max, Duration maxHold) {
        return new Counter(name, max, new Window.Lease(maxHold));
    }

    protected Admission reserve(String subject, long now, Charge... charges) {
        return reserve(store(), subject, now, null, charges);
    }

    protected static Admission reserve(LimitStore store, String subject, long now, String leaseId, Charge... charges) {
        return store.reserve(new Reservation(subject, List.of(charges), leaseId, now))
                .orTimeout(30, TimeUnit.SECONDS)
                .join();
    }

    protected void adjust(String subject, long now, Adjustment... adjustments) {
        store().adjust(subject, List.of(adjustments), now)
                .orTimeout(30, TimeUnit.SECONDS)
                .join();
    }

    /** The amount counted now, read with a charge of zero on a counter that allows it. */
    protected long used(String subject, Counter counter, long now) {
        Admission a = reserve(subject, now, new Charge(counter, 0));
        return a.states().get(0).used();
    }

    @Test
    protected void anAdmittedReservationCountsEveryCharge() {
        String s = newSubject();
        long t = soon();
        Counter requests = perMinute("requests", 10);
        Counter tokens = perMinute("tokens", 1000);
        Admission a = reserve(s, t, new Charge(requests, 1), new Charge(tokens, 300));
        assertThat(a.admitted()).isTrue();
        assertThat(a.refused()).isEqualTo(-1);
        assertThat(a.states()).hasSize(2);
        assertThat(a.states().get(0).used()).isEqualTo(1);
        assertThat(a.states().get(1).used()).isEqualTo(300);
        Admission b = reserve(s, t + 10, new Charge(requests, 1), new Charge(tokens, 700));
        assertThat(b.admitted()).isTrue();
        assertThat(b.states().get(0).used()).isEqualTo(2);
        assertThat(b.states().get(1).used()).isEqualTo(1000);
    }

    @Test
    protected void aRefusedReservationChangesNoCounter() {
        String s = newSubject();
        long t = soon();
        Counter requests = perMinute("requests", 10);
        Counter tokens = perMinute("tokens", 1000);
        Counter budget = calendar("budget-day", 5_000, Window.Period.DAY);
        Admission first = reserve(s, t, new Charge(requests, 1), new Charge(tokens, 600), new Charge(budget, 100));
        assertThat(first.admitted()).isTrue();

        // The request slot fits, the tokens do not: neither the request nor the budget is charged.
        Admission refused =
                reserve(s, t + 1, new Charge(requests, 1), new Charge(tokens, 401), new Charge(budget, 100));
        assertThat(refused.admitted()).isFalse();
        assertThat(refused.refused()).isEqualTo(1);
        assertThat(refused.states()).hasSize(3);
        assertThat(refused.states().get(0).used()).isEqualTo(1);
        assertThat(refused.states().get(1).used()).isEqualTo(600);
        assertThat(refused.states().get(2).used()).isEqualTo(100);

        assertThat(used(s, requests, t + 2)).isEqualTo(1);
        assertThat(used(s, tokens, t + 2)).isEqualTo(600);
        assertThat(used(s, budget, t + 2)).isEqualTo(100);
        // Exactly up to the limit still fits.
        assertThat(reserve(s, t + 3, new Charge(requests, 9), new Charge(tokens, 400))
                        .admitted())
                .isTrue();
        assertThat(reserve(s, t + 4, new Charge(requests, 1)).admitted()).isFalse();
    }

    @Test
    protected void aLeaseChargeIsNotTakenWhenAnotherChargeIsRefused() {
        String s = newSubject();
        long t = soon();
        Counter concurrent = leases("concurrent", 1, Duration.ofMinutes(5));
        Counter requests = perMinute("requests", 0);
        Admission a = reserve(store(), s, t, "lease-1", new Charge(concurrent, 1), new Charge(requests, 1));
        assertThat(a.admitted()).isFalse();
        assertThat(a.refused()).isEqualTo(1);
        assertThat(reserve(store(), s, t + 1, "lease-2", new Charge(concurrent, 1))
                        .admitted())
                .isTrue();
    }

    @Test
    protected void aLimitOfZeroRefusesEverything() {
        String s = newSubject();
        long t = soon();
        for (Counter c : List.of(
                perMinute("rpm", 0),
                calendar("day", 0, Window.Period.DAY),
                calendar("month", 0, Window.Period.MONTH),
                leases("concurrent", 0, Duration.ofMinutes(1)))) {
            Admission a = reserve(store(), s, t, "lease", new Charge(c, 1));
            assertThat(a.admitted()).as(c.name()).isFalse();
            assertThat(a.refused()).isEqualTo(0);
            assertThat(a.states().get(0).used()).isZero();
        }
    }

    @Test
    protected void aHugeAmountIsRefusedAndDoesNotOverflow() {
        String s = newSubject();
        long t = soon();
        Counter tokens = perMinute("tokens", 1_000_000);
        Counter budget = calendar("budget", 10_000_000_000L, Window.Period.MONTH);
        assertThat(reserve(s, t, new Charge(tokens, 10), new Charge(budget, 10)).admitted())
                .isTrue();
        assertThat(reserve(s, t + 1, new Charge(tokens, Long.MAX_VALUE)).admitted())
                .isFalse();
        assertThat(reserve(s, t + 1, new Charge(budget, Long.MAX_VALUE - 5)).admitted())
                .isFalse();
        assertThat(reserve(s, t + 1, new Charge(tokens, 1_000_000_000_000L)).admitted())
                .isFalse();
        assertThat(used(s, tokens, t + 2)).isEqualTo(10);
        assertThat(used(s, budget, t + 2)).isEqualTo(10);
    }

    @Test
    protected void aLimitIsExactUnderConcurrency() throws Exception {
        String s = newSubject();
        long t = soon();
        Counter requests = perMinute("requests", LIMIT);
        assertThat(concurrently(REQUESTS, i -> store(), s, t, new Charge(requests, 1)))
                .isEqualTo(LIMIT);
        assertThat(used(s, requests, t + 1)).isEqualTo(LIMIT);
    }

    @Test
    protected void twoInstancesShareARequestLimitExactly() throws Exception {
        LimitStore other = secondInstance();
        Assumptions.assumeTrue(other != null, "the store is local to its instance");
        String s = newSubject();
        long t = soon();
        Counter requests = perMinute("requests", LIMIT);
        assertThat(concurrently(REQUESTS, i -> i % 2 == 0 ? store() : other, s, t, new Charge(requests, 1)))
                .isEqualTo(LIMIT);
        assertThat(used(s, requests, t + 1)).isEqualTo(LIMIT);
    }

    /**
     * Around a budget's UTC midnight, an instance whose clock is a little behind another's counts in the day the other
     * has begun, never in the day before again: beginning that one again would forget what was counted in the new
     * day (and the instance ahead would then forget the other's charge in turn).
     */
    @Test
    protected void anInstanceWhoseClockIsBehindNeverBeginsAnEndedCalendarWindowAgain() {
        LimitStore other = secondInstance();
        Assumptions.assumeTrue(other != null, "the store is local to its instance");
        String s = newSubject();
        long midnight = Window.Period.DAY.nextAfter(soon() + 86_400_000L);
        Counter day = calendar("cost-per-day", 1_000, Window.Period.DAY);
        reserve(store(), s, midnight - 5_000, null, new Charge(day, 900));
        reserve(store(), s, midnight + 10, null, new Charge(day, 300)); // the instance ahead: the new day

        Admission behind = reserve(other, s, midnight - 10, null, new Charge(day, 300)); // 20 ms behind
        assertThat(behind.admitted()).isTrue();
        assertCalendarState(behind.states().get(0), 600, midnight, midnight + 86_400_000L);
        assertThat(used(s, day, midnight + 20)).isEqualTo(600);

        // Its settlement counts in the window it was counted in.
        other.adjust(s, List.of(new Adjustment(day, behind.states().get(0).windowStartMillis(), -100)), midnight - 5)
                .orTimeout(30, TimeUnit.SECONDS)
                .join();
        assertThat(used(s, day, midnight + 30)).isEqualTo(500);
    }

    /**
     * Only the next calendar window is joined: one begun by an instance whose clock is more than a period ahead (a
     * broken clock, a year on) would not end for a year, and a budget spent in it would refuse every request until
     * then. The others count in their own window.
     */
    @Test
    protected void aCalendarWindowBegunMoreThanAPeriodAheadIsNotJoined() {
        LimitStore other = secondInstance();
        Assumptions.assumeTrue(other != null, "the store is local to its instance");
        String s = newSubject();
        long midnight = Window.Period.DAY.nextAfter(soon() + 86_400_000L);
        Counter day = calendar("cost-per-day", 1_000, Window.Period.DAY);
        reserve(other, s, midnight + 365L * 86_400_000L + 3_600_000L, null, new Charge(day, 1_000)); // a year on

        Admission today = reserve(store(), s, midnight - 3_600_000L, null, new Charge(day, 100));
        assertThat(today.admitted()).isTrue();
        assertCalendarState(today.states().get(0), 100, midnight - 86_400_000L, midnight);
        assertThat(used(s, day, midnight - 3_000_000L)).isEqualTo(100);
    }

    @Test
    protected void twoInstancesShareATokenLimitExactly() throws Exception {
        LimitStore other = secondInstance();
        Assumptions.assumeTrue(other != null, "the store is local to its instance");
        String s = newSubject();
        long t = soon();
        Counter tokens = perMinute("tokens-per-minute", LIMIT * 1_500L);
        assertThat(concurrently(REQUESTS, i -> i % 2 == 0 ? store() : other, s, t, new Charge(tokens, 1_500)))
                .isEqualTo(LIMIT);
        assertThat(used(s, tokens, t + 1)).isEqualTo(LIMIT * 1_500L);
    }

    @Test
    protected void twoInstancesShareAMoneyBudgetExactly() throws Exception {
        LimitStore other = secondInstance();
        Assumptions.assumeTrue(other != null, "the store is local to its instance");
        String s = newSubject();
        long t = soon();
        // $5 a month in nano-dollars; each request reserves 5 cents.
        long cost = 50_000_000L;
        Counter budget = calendar("budget-month", LIMIT * cost, Window.Period.MONTH);
        assertThat(concurrently(REQUESTS, i -> i % 2 == 0 ? store() : other, s, t, new Charge(budget, cost)))
                .isEqualTo(LIMIT);
        assertThat(used(s, budget, t + 1)).isEqualTo(LIMIT * cost);
    }

    /** Which store the i-th request goes to. */
    protected interface Instances {
        LimitStore of(int i);
    }

    /**
     * Makes {@code n} reservations of {@code charge} at once, from many threads released together, spread over
     * the stores {@code instances} names; returns how many were admitted.
     */
    protected static int concurrently(int n, Instances instances, String subject, long now, Charge charge)
            throws Exception {
        int threads = 32;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            CountDownLatch start = new CountDownLatch(1);
            List<Future<Boolean>> answers = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                LimitStore store = instances.of(i);
                long at = now + (i % 7);
                answers.add(pool.submit(() -> {
                    start.await();
                    return reserve(store, subject, at, null, charge).admitted();
                }));
            }
            start.countDown();
            int admitted = 0;
            for (Future<Boolean> f : answers) {
                if (f.get(60, TimeUnit.SECONDS)) {
                    admitted++;
                }
            }
            return admitted;
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    protected void aRollingWindowBeginsAtTheFirstChargeAndEndsAfterItsLength() {
        String s = newSubject();
        long t = soon();
        Counter rpm = perMinute("requests", 2);
        Admission first = reserve(s, t, new Charge(rpm, 1));
        assertThat(first.states().get(0)).isEqualTo(new Admission.CounterState(1, t, t + 60_000));
        Admission second = reserve(s, t + 30_000, new Charge(rpm, 1));
        assertThat(second.states().get(0)).isEqualTo(new Admission.CounterState(2, t, t + 60_000));
        Admission full = reserve(s, t + 59_999, new Charge(rpm, 1));
        assertThat(full.admitted()).isFalse();
        assertThat(full.states().get(0).used()).isEqualTo(2);
        assertThat(full.states().get(0).resetAtMillis()).isEqualTo(t + 60_000);

        // At its end the window is over; the next begins with the next charge, not on a fixed grid.
        long later = t + 95_000;
        Admission next = reserve(s, later, new Charge(rpm, 1));
        assertThat(next.admitted()).isTrue();
        assertThat(next.states().get(0)).isEqualTo(new Admission.CounterState(1, later, later + 60_000));
        assertThat(reserve(s, later + 59_999, new Charge(rpm, 1)).admitted()).isTrue();
        assertThat(reserve(s, later + 59_999, new Charge(rpm, 1)).admitted()).isFalse();
        assertThat(reserve(s, later + 60_000, new Charge(rpm, 2)).admitted()).isTrue();
    }

    @Test
    protected void windowsOfDifferentLengthsAreCountedApart() {
        String s = newSubject();
        long t = soon();
        Counter perMinute = perMinute("rpm", 2);
        Counter perHour = rolling("rph", 3, Duration.ofHours(1));
        assertThat(reserve(s, t, new Charge(perMinute, 1), new Charge(perHour, 1))
                        .admitted())
                .isTrue();
        assertThat(reserve(s, t + 1, new Charge(perMinute, 1), new Charge(perHour, 1))
                        .admitted())
                .isTrue();
        assertThat(reserve(s, t + 2, new Charge(perMinute, 1), new Charge(perHour, 1))
                        .refused())
                .isEqualTo(0);
        Admission a = reserve(s, t + 60_000, new Charge(perMinute, 1), new Charge(perHour, 1));
        assertThat(a.admitted()).isTrue();
        assertThat(a.states().get(1)).isEqualTo(new Admission.CounterState(3, t, t + 3_600_000));
        assertThat(reserve(s, t + 60_001, new Charge(perMinute, 1), new Charge(perHour, 1))
                        .refused())
                .isEqualTo(1);
    }

    /**
     * A calendar window's state: its start may be a little past the period's (less than a second: a store may tell
     * its windows apart there, see {@link Admission.CounterState}).
     */
    protected static void assertCalendarState(Admission.CounterState state, long used, long start, long end) {
        assertThat(state.used()).isEqualTo(used);
        assertThat(state.windowStartMillis()).isBetween(start, start + 999);
        assertThat(state.resetAtMillis()).isEqualTo(end);
    }

    @Test
    protected void aCalendarDayEndsAtUtcMidnight() {
        String s = newSubject();
        long midnight = Window.Period.DAY.nextAfter(soon() + 86_400_000L);
        long before = midnight - 1;
        Counter day = calendar("tokens-per-day", 1_000, Window.Period.DAY);
        Admission a = reserve(s, before - 3_600_000, new Charge(day, 600));
        assertCalendarState(a.states().get(0), 600, midnight - 86_400_000L, midnight);
        assertThat(reserve(s, before, new Charge(day, 401)).admitted()).isFalse();
        assertThat(reserve(s, before, new Charge(day, 400)).admitted()).isTrue();
        assertThat(reserve(s, before, new Charge(day, 1)).admitted()).isFalse();

        Admission next = reserve(s, midnight, new Charge(day, 1_000));
        assertThat(next.admitted()).isTrue();
        assertCalendarState(next.states().get(0), 1_000, midnight, midnight + 86_400_000L);
    }

    @Test
    protected void aCalendarMonthEndsAtTheFirstOfTheNextMonthUtc() {
        String s = newSubject();
        long first = Window.Period.MONTH.nextAfter(soon());
        long following = Window.Period.MONTH.nextAfter(first);
        Counter month = calendar("budget-month", 5_000_000_000L, Window.Period.MONTH);
        // Two days apart in one month: one window.
        Admission a = reserve(s, first - 2 * 86_400_000L, new Charge(month, 3_000_000_000L));
        assertCalendarState(a.states().get(0), 3_000_000_000L, Window.Period.MONTH.startOf(first - 1), first);
        assertThat(reserve(s, first - 1, new Charge(month, 2_000_000_001L)).admitted())
                .isFalse();
        assertThat(reserve(s, first - 1, new Charge(month, 2_000_000_000L)).admitted())
                .isTrue();

        Admission next = reserve(s, first, new Charge(month, 5_000_000_000L));
        assertThat(next.admitted()).isTrue();
        assertCalendarState(next.states().get(0), 5_000_000_000L, first, following);
    }

    @Test
    protected void leasesLimitConcurrencyAndAreGivenBack() {
        String s = newSubject();
        long t = soon();
        Counter streams = leases("concurrent-streams", 2, Duration.ofMinutes(10));
        Admission one = reserve(store(), s, t, "lease-1", new Charge(streams, 1));
        assertThat(one.admitted()).isTrue();
        assertThat(one.states().get(0).used()).isEqualTo(1);
        assertThat(one.states().get(0).resetAtMillis()).isEqualTo(t + 600_000);
        Admission two = reserve(store(), s, t + 5, "lease-2", new Charge(streams, 1));
        assertThat(two.states().get(0))
                .extracting(Admission.CounterState::used, Admission.CounterState::resetAtMillis)
                .containsExactly(2L, t + 600_000);
        assertThat(reserve(store(), s, t + 10, "lease-3", new Charge(streams, 1))
                        .admitted())
                .isFalse();

        store().release(s, streams, "lease-1").orTimeout(30, TimeUnit.SECONDS).join();
        Admission three = reserve(store(), s, t + 20, "lease-3", new Charge(streams, 1));
        assertThat(three.admitted()).isTrue();
        assertThat(three.states().get(0).resetAtMillis()).isEqualTo(t + 5 + 600_000);
        assertThat(reserve(store(), s, t + 30, "lease-4", new Charge(streams, 1))
                        .admitted())
                .isFalse();
        // Giving back a lease that is not held (twice, unknown) changes nothing.
        store().release(s, streams, "lease-1").orTimeout(30, TimeUnit.SECONDS).join();
        store().release(s, streams, "unknown").orTimeout(30, TimeUnit.SECONDS).join();
        assertThat(reserve(store(), s, t + 40, "lease-5", new Charge(streams, 1))
                        .admitted())
                .isFalse();
    }

    @Test
    protected void aLeaseTakenAgainIsHeldOnce() {
        String s = newSubject();
        long t = soon();
        Counter streams = leases("streams", 2, Duration.ofMinutes(1));
        assertThat(reserve(store(), s, t, "same", new Charge(streams, 1)).admitted())
                .isTrue();
        Admission again = reserve(store(), s, t + 1_000, "same", new Charge(streams, 1));
        assertThat(again.admitted()).isTrue();
        assertThat(again.states().get(0).used()).isEqualTo(1);
        assertThat(again.states().get(0).resetAtMillis()).isEqualTo(t + 61_000);
        assertThat(reserve(store(), s, t + 2_000, "other", new Charge(streams, 1))
                        .states()
                        .get(0)
                        .used())
                .isEqualTo(2);
        store().release(s, streams, "same").orTimeout(30, TimeUnit.SECONDS).join();
        assertThat(reserve(store(), s, t + 3_000, "third", new Charge(streams, 1))
                        .admitted())
                .isTrue();
    }

    @Test
    protected void aLeaseExpiresAfterItsMaximumHold() {
        String s = newSubject();
        long t = soon();
        Counter concurrent = leases("concurrent", 1, Duration.ofSeconds(10));
        assertThat(reserve(store(), s, t, "held-by-a-dead-instance", new Charge(concurrent, 1))
                        .admitted())
                .isTrue();
        assertThat(reserve(store(), s, t + 9_999, "b", new Charge(concurrent, 1))
                        .admitted())
                .isFalse();
        Admission after = reserve(store(), s, t + 10_000, "c", new Charge(concurrent, 1));
        assertThat(after.admitted()).isTrue();
        assertThat(after.states().get(0).used()).isEqualTo(1);
        assertThat(after.states().get(0).resetAtMillis()).isEqualTo(t + 20_000);
    }

    @Test
    protected void anAdjustmentRefundsAndOverchargesTheCurrentWindow() {
        String s = newSubject();
        long t = soon();
        Counter tokens = perMinute("tokens", 1_000);
        Counter budget = calendar("budget", 1_000_000, Window.Period.DAY);
        Admission a = reserve(s, t, new Charge(tokens, 800), new Charge(budget, 500_000));
        long tokensWindow = a.states().get(0).windowStartMillis();
        long budgetWindow = a.states().get(1).windowStartMillis();
        assertThat(reserve(s, t + 1, new Charge(tokens, 300)).admitted()).isFalse();

        // The upstream used 100 tokens of the 800 reserved and cost more than estimated.
        adjust(s, t + 2, new Adjustment(tokens, tokensWindow, -700), new Adjustment(budget, budgetWindow, 200_000));
        assertThat(used(s, tokens, t + 3)).isEqualTo(100);
        assertThat(used(s, budget, t + 3)).isEqualTo(700_000);
        assertThat(reserve(s, t + 4, new Charge(tokens, 900)).admitted()).isTrue();

        // A refund never takes a counter below zero.
        adjust(
                s,
                t + 5,
                new Adjustment(tokens, tokensWindow, -1_000_000),
                new Adjustment(budget, budgetWindow, -900_000));
        assertThat(used(s, tokens, t + 6)).isZero();
        assertThat(used(s, budget, t + 6)).isZero();
        // An overcharge may take it past the limit: what was spent was spent.
        adjust(s, t + 7, new Adjustment(budget, budgetWindow, 1_500_000));
        assertThat(used(s, budget, t + 8)).isEqualTo(1_500_000);
        assertThat(reserve(s, t + 9, new Charge(budget, 1)).admitted()).isFalse();
    }

    @Test
    protected void aSettlementAdjustsAndGivesTheLeaseBackInOneGo() {
        String s = newSubject();
        long t = soon();
        Counter requests = perMinute("requests", 10);
        Counter tokens = perMinute("tokens", 1_000);
        Counter budget = calendar("budget", 1_000_000, Window.Period.MONTH);
        Counter concurrent = leases("concurrent", 1, Duration.ofMinutes(10));
        Admission a = reserve(
                store(),
                s,
                t,
                "lease-a",
                new Charge(requests, 1),
                new Charge(tokens, 800),
                new Charge(budget, 500_000),
                new Charge(concurrent, 1));
        assertThat(a.admitted()).isTrue();
        assertThat(reserve(store(), s, t + 1, "lease-b", new Charge(concurrent, 1))
                        .admitted())
                .isFalse();

        // The answer ended: 100 tokens of the 800 (two adjustments of one counter add up), more money, lease back.
        store().settle(
                        s,
                        List.of(
                                new Adjustment(tokens, a.states().get(1).windowStartMillis(), -600),
                                new Adjustment(tokens, a.states().get(1).windowStartMillis(), -100),
                                new Adjustment(budget, a.states().get(2).windowStartMillis(), 200_000)),
                        concurrent,
                        "lease-a",
                        t + 2)
                .orTimeout(30, TimeUnit.SECONDS)
                .join();
        assertThat(used(s, requests, t + 3)).isEqualTo(1);
        assertThat(used(s, tokens, t + 3)).isEqualTo(100);
        assertThat(used(s, budget, t + 3)).isEqualTo(700_000);
        Admission b = reserve(store(), s, t + 4, "lease-b", new Charge(concurrent, 1));
        assertThat(b.admitted()).isTrue();
        assertThat(b.states().get(0).used()).isEqualTo(1);

        // Nothing to adjust: the lease alone goes back; an unknown lease changes nothing.
        store().settle(s, List.of(), concurrent, "lease-b", t + 5)
                .orTimeout(30, TimeUnit.SECONDS)
                .join();
        store().settle(
                        s,
                        List.of(new Adjustment(tokens, a.states().get(1).windowStartMillis(), 50)),
                        concurrent,
                        "unknown",
                        t + 6)
                .orTimeout(30, TimeUnit.SECONDS)
                .join();
        assertThat(used(s, tokens, t + 7)).isEqualTo(150);
        assertThat(used(s, concurrent, t + 7)).isZero();
        assertThat(reserve(store(), s, t + 8, "lease-c", new Charge(concurrent, 1))
                        .admitted())
                .isTrue();
    }

    @Test
    protected void anAdjustmentForAnEndedWindowIsIgnored() {
        String s = newSubject();
        long t = soon();
        Counter tokens = perMinute("tokens", 1_000);
        Admission old = reserve(s, t, new Charge(tokens, 800));
        long oldWindow = old.states().get(0).windowStartMillis();
        Admission current = reserve(s, t + 70_000, new Charge(tokens, 600));
        assertThat(current.states().get(0).windowStartMillis()).isEqualTo(t + 70_000);

        // The first request's settlement arrives late: the new window keeps its 600.
        adjust(s, t + 71_000, new Adjustment(tokens, oldWindow, -700));
        assertThat(used(s, tokens, t + 72_000)).isEqualTo(600);
        adjust(s, t + 71_000, new Adjustment(tokens, oldWindow, 700));
        assertThat(used(s, tokens, t + 72_000)).isEqualTo(600);

        // Yesterday's budget settlement after midnight leaves today's budget alone.
        long midnight = Window.Period.DAY.nextAfter(t + 86_400_000L);
        Counter day = calendar("budget-day", 1_000_000, Window.Period.DAY);
        Admission yesterday = reserve(s, midnight - 10, new Charge(day, 400_000));
        Admission today = reserve(s, midnight + 10, new Charge(day, 300_000));
        assertThat(today.states().get(0).used()).isEqualTo(300_000);
        adjust(s, midnight + 20, new Adjustment(day, yesterday.states().get(0).windowStartMillis(), -400_000));
        adjust(s, midnight + 20, new Adjustment(day, yesterday.states().get(0).windowStartMillis(), 500_000));
        assertThat(used(s, day, midnight + 30)).isEqualTo(300_000);
        adjust(s, midnight + 40, new Adjustment(day, today.states().get(0).windowStartMillis(), -100_000));
        assertThat(used(s, day, midnight + 50)).isEqualTo(200_000);
    }

    /**
     * What was used while the store did not answer is counted whatever the limit, in the current window, a new one
     * when the last ended; a store that remembers ids counts a charge sent again (its answer was lost) once.
     */
    @Test
    protected void aChargeCountedLaterCountsOverTheLimitAndOnceByItsId() {
        String s = newSubject();
        long t = soon();
        Counter rpm = perMinute("requests", 2);
        Counter day = calendar("budget-day", 1_000, Window.Period.DAY);
        count(store(), s, new Charge(rpm, 3), "c-1", t);
        count(store(), s, new Charge(day, 1_500), "c-2", t);
        assertThat(used(s, rpm, t + 1)).isEqualTo(3);
        assertThat(used(s, day, t + 1)).isEqualTo(1_500);
        assertThat(reserve(s, t + 2, new Charge(rpm, 1)).admitted()).isFalse();

        LimitStore again = secondInstance() == null ? store() : secondInstance();
        count(again, s, new Charge(rpm, 3), "c-1", t + 3);
        count(again, s, new Charge(day, 1_500), "c-2", t + 3);
        assertThat(used(s, rpm, t + 4)).isEqualTo(remembersIds() ? 3 : 6);
        assertThat(used(s, day, t + 4)).isEqualTo(remembersIds() ? 1_500 : 3_000);

        count(store(), s, new Charge(rpm, 1), "c-3", t + 70_000); // the window ended: a new one begins
        assertThat(used(s, rpm, t + 70_001)).isEqualTo(1);
        count(store(), s, new Charge(leases("streams", 1, Duration.ofMinutes(1)), 1), "c-4", t + 70_002);
        assertThat(reserve(s, t + 70_003, new Charge(leases("streams", 1, Duration.ofMinutes(1)), 1))
                        .admitted())
                .as("a lease is never counted later")
                .isTrue();
    }

    private static void count(LimitStore store, String subject, Charge charge, String id, long now) {
        store.count(subject, charge, id, now).orTimeout(30, TimeUnit.SECONDS).join();
    }

    @Test
    protected void anAdjustmentOfACounterNeverChargedIsHarmless() {
        String s = newSubject();
        long t = soon();
        Counter tokens = perMinute("tokens", 1_000);
        adjust(s, t, new Adjustment(tokens, t - 5, -100), new Adjustment(tokens, t - 5, 100));
        assertThat(used(s, tokens, t + 1)).isZero();
    }

    @Test
    protected void subjectsAreCountedApart() {
        long t = soon();
        Counter rpm = perMinute("requests", 1);
        String a = newSubject();
        String b = newSubject();
        assertThat(reserve(a, t, new Charge(rpm, 1)).admitted()).isTrue();
        assertThat(reserve(a, t, new Charge(rpm, 1)).admitted()).isFalse();
        assertThat(reserve(b, t, new Charge(rpm, 1)).admitted()).isTrue();
    }

    @Test
    protected void hostileSubjectsAndNamesAreCountedApartAndSafely() {
        long t = soon();
        String base = newSubject();
        List<String> hostile = List.of(
                base,
                base + ":requests",
                base + "}",
                base + "{x}",
                "{" + base + "}",
                base + "'; DROP TABLE openai_proxy_limit_counters; --",
                base + "\" OR \"1\"=\"1",
                base + "\nFLUSHALL\r\n",
                base + "\u0000zero",
                base + " ünïcödé ✓ 𝄞",
                base + "x".repeat(10_000),
                base + "x".repeat(10_001),
                base + "%s%n*?[]");
        Counter rpm = perMinute("requests", 1);
        for (String s : hostile) {
            assertThat(reserve(s, t, new Charge(rpm, 1)).admitted()).as(s).isTrue();
        }
        for (String s : hostile) {
            assertThat(reserve(s, t + 1, new Charge(rpm, 1)).admitted()).as(s).isFalse();
        }
        // Hostile counter names of one subject are counted apart too.
        String s = newSubject();
        for (String name : List.of("a", "a:b", "a}", "{a}", "a'--", "a\nb", "n".repeat(500))) {
            Counter c = perMinute(name, 1);
            assertThat(reserve(s, t, new Charge(c, 1)).admitted()).as(name).isTrue();
            assertThat(reserve(s, t, new Charge(c, 1)).admitted()).as(name).isFalse();
        }
    }

    @Test
    protected void theKindIsNamed() {
        assertThat(store().kind()).isNotBlank();
    }
}
