package io.github.openaiproxy.core;

/**
 * A call of a named upstream that ended unanswered after the upstream had the whole request (its {@code timeout}
 * passed), followed by a retry or a fallback: the upstream bills its prompt, so it is charged on its own.
 *
 * @param upstream the upstream's configured name
 * @param model the client-side model asked of that upstream; {@code null} when none
 * @param endNanos when the call ended, on {@link System#nanoTime()}
 */
record UnansweredCall(String upstream, String model, long endNanos) {}
