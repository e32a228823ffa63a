package io.github.openaiproxy.core.upstream;

/**
 * Whether Jetty's client can be loaded. Kept apart from {@link JettyUpstreamClient}, whose linking would
 * itself need Jetty's classes: core declares {@code jetty-client} optional.
 */
final class JettyPresence {
    private static final boolean ON_CLASS_PATH = probe();

    private JettyPresence() {}

    static boolean onClassPath() {
        return ON_CLASS_PATH;
    }

    private static boolean probe() {
        try {
            Class.forName("org.eclipse.jetty.client.HttpClient", false, JettyPresence.class.getClassLoader());
            return true;
        } catch (ClassNotFoundException | LinkageError e) {
            return false;
        }
    }
}
