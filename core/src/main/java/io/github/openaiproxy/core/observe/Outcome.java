package io.github.openaiproxy.core.observe;

/** How an exchange ended once its response had started. */
public enum Outcome {
    /** The whole body was handed to the adapter. */
    COMPLETED,
    /** The client went away (the body was cancelled). */
    CLIENT_GONE,
    /** The upstream failed while the body was being relayed. */
    UPSTREAM_FAILED
}
