package io.github.openaiproxy.servlet.support;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.servlet.OpenAiProxyFilter;
import io.github.openaiproxy.servlet.OpenAiProxyServlet;
import jakarta.servlet.DispatcherType;
import jakarta.servlet.Filter;
import java.time.Duration;
import java.util.EnumSet;
import org.eclipse.jetty.ee10.servlet.FilterHolder;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.http.UriCompliance;
import org.eclipse.jetty.http2.server.HTTP2CServerConnectionFactory;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;

/** An embedded Jetty 12 (ee10) on 127.0.0.1 with the proxy mounted as a servlet or as a filter. */
public final class JettyProxy implements ProxyServer {
    private final Server server;
    private final ServerConnector connector;
    private final ProxyEngine engine;

    private JettyProxy(Server server, ServerConnector connector, ProxyEngine engine) {
        this.server = server;
        this.connector = connector;
        this.engine = engine;
    }

    /** The proxy servlet mapped to a prefix such as {@code /ai/*}. */
    public static JettyProxy servlet(ProxyConfig config, String mapping) {
        return start(config, mapping, false);
    }

    /**
     * The proxy servlet mapped to {@code /*} behind a test filter (as a host's CORS or security filter), which
     * sees every request before the proxy does.
     */
    public static JettyProxy servlet(ProxyConfig config, Filter front) {
        return start(ProxyEngine.create(config), "/*", false, false, false, front);
    }

    /**
     * The proxy filter on {@code /*} in front of an application servlet that answers
     * {@code 200 "app:" + path} for everything the filter passes down.
     */
    public static JettyProxy filter(ProxyConfig config) {
        return start(config, "/*", true);
    }

    /**
     * The proxy servlet mapped to {@code /*} on an engine built by the test, on a connector that also speaks
     * HTTP/2 to clients that upgrade to it ({@code h2c}).
     */
    public static JettyProxy servletWithH2c(ProxyEngine engine) {
        return start(engine, "/*", false, true);
    }

    /**
     * The proxy servlet mapped to {@code /*} on an engine built by the test, on a connector whose idle timeout
     * (a read's or a write's that cannot go on) is {@code timeout}.
     */
    public static JettyProxy servletWithIdleTimeout(ProxyEngine engine, Duration timeout) {
        JettyProxy proxy = start(engine, "/*", false, false);
        proxy.connector.setIdleTimeout(timeout.toMillis()); // applies to the connections accepted from now on
        return proxy;
    }

    /**
     * The proxy servlet mapped to {@code /*} on a server that lets an encoded slash ({@code %2F}) through to the
     * application: the URI compliance allows {@code AMBIGUOUS_PATH_SEPARATOR} and the servlet handler decodes
     * ambiguous URIs (the README's host setting for model ids such as {@code meta-llama%2FLlama-3.1-8B-Instruct}).
     */
    public static JettyProxy servletAllowingEncodedSlashes(ProxyConfig config) {
        return start(ProxyEngine.create(config), "/*", false, false, true);
    }

    private static JettyProxy start(ProxyConfig config, String mapping, boolean asFilter) {
        return start(ProxyEngine.create(config), mapping, asFilter, false);
    }

    private static JettyProxy start(ProxyEngine engine, String mapping, boolean asFilter, boolean h2c) {
        return start(engine, mapping, asFilter, h2c, false);
    }

    private static JettyProxy start(
            ProxyEngine engine, String mapping, boolean asFilter, boolean h2c, boolean encodedSlashes) {
        return start(engine, mapping, asFilter, h2c, encodedSlashes, null);
    }

    private static JettyProxy start(
            ProxyEngine engine, String mapping, boolean asFilter, boolean h2c, boolean encodedSlashes, Filter front) {
        Server server = new Server();
        HttpConfiguration http = new HttpConfiguration();
        if (encodedSlashes) {
            http.setUriCompliance(
                    UriCompliance.DEFAULT.with("encoded-slash", UriCompliance.Violation.AMBIGUOUS_PATH_SEPARATOR));
        }
        ServerConnector connector = h2c
                ? new ServerConnector(server, new HttpConnectionFactory(http), new HTTP2CServerConnectionFactory(http))
                : new ServerConnector(server, new HttpConnectionFactory(http));
        connector.setHost("127.0.0.1");
        connector.setPort(0);
        server.addConnector(connector);
        ServletContextHandler context = new ServletContextHandler();
        context.setContextPath("/");
        if (front != null) {
            FilterHolder holder = new FilterHolder(front);
            holder.setAsyncSupported(true);
            context.addFilter(holder, "/*", EnumSet.of(DispatcherType.REQUEST));
        }
        if (asFilter) {
            FilterHolder filter = new FilterHolder(new OpenAiProxyFilter(engine));
            filter.setAsyncSupported(true);
            context.addFilter(filter, "/*", EnumSet.of(DispatcherType.REQUEST));
            ServletHolder app = new ServletHolder(new AppServlet());
            app.setAsyncSupported(true);
            context.addServlet(app, "/");
        } else {
            ServletHolder proxy = new ServletHolder(new OpenAiProxyServlet(engine));
            proxy.setAsyncSupported(true);
            context.addServlet(proxy, mapping);
        }
        if (encodedSlashes) {
            context.getServletHandler().setDecodeAmbiguousURIs(true);
        }
        server.setHandler(context);
        try {
            server.start();
        } catch (Exception e) {
            engine.close();
            throw new IllegalStateException("could not start Jetty", e);
        }
        return new JettyProxy(server, connector, engine);
    }

    /** The engine behind the servlet, for what is not visible over HTTP (such as calls in flight). */
    public ProxyEngine engine() {
        return engine;
    }

    @Override
    public int port() {
        return connector.getLocalPort();
    }

    @Override
    public void close() {
        try {
            server.stop();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        } finally {
            engine.close();
        }
    }
}
