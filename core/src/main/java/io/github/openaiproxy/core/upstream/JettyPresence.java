package io.github.openaiproxy.core.upstream;

import io.github.openaiproxy.core.internal.ClassPath;

/**
 * Whether Jetty's client can be loaded. Kept apart from {@link JettyUpstreamClient}, whose linking would
 * itself need Jetty's classes: core declares {@code jetty-client} optional.
 */
final class JettyPresence {
    private static final boolean ON_CLASS_PATH = ClassPath.has("org.eclipse.jetty.client.HttpClient");

    private JettyPresence() {}

    static boolean onClassPath() {
        return ON_CLASS_PATH;
    }
}
