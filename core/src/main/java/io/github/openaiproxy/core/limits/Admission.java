package io.github.openaiproxy.core.limits;

import java.util.List;

/**
 * A store's answer to a {@link Reservation}.
 *
 * @param admitted whether every charge was made; when not, none was
 * @param refused the index of a charge that did not fit, {@code -1} when admitted
 * @param states each counter after the reservation (or as it stands, when refused), in the charges' order
 */
public record Admission(boolean admitted, int refused, List<CounterState> states) {
    public Admission {
        states = List.copyOf(states);
    }

    /**
     * A counter as a store reports it.
     *
     * @param used the amount counted in the current window (after the charge, when admitted)
     * @param windowStartMillis when the current window began (epoch ms): settles the right window later. A calendar
     *     window's may be up to 999 ms past its period's start: a store may name its windows there (Redis does, so
     *     that a settlement does not count in a window made again after the keys were lost)
     * @param resetAtMillis when the counter is next back to zero (epoch ms): the window's end, or for a lease
     *     counter the earliest expiry of a held lease
     */
    public record CounterState(long used, long windowStartMillis, long resetAtMillis) {}
}
