package io.github.openaiproxy.core.access;

/** The logger of access decisions: reasons at DEBUG, never a key, token or user name. */
final class AccessLog {
    static final System.Logger LOG = System.getLogger("io.github.openaiproxy.core.access");

    private AccessLog() {}
}
