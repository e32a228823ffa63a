package io.github.openaiproxy.servlet.support;

import java.net.URI;

/** The proxy running in some servlet container on 127.0.0.1, as the over-HTTP tests see it. */
public interface ProxyServer extends AutoCloseable {
    /** The local port. */
    int port();

    /** {@code http://127.0.0.1:PORT} plus the path. */
    default URI uri(String path) {
        return URI.create(origin() + path);
    }

    /** The server's own origin, {@code http://127.0.0.1:PORT}. */
    default String origin() {
        return "http://127.0.0.1:" + port();
    }

    /** Stops the container and closes the engine. */
    @Override
    void close();
}
