package io.github.openaiproxy.servlet.support;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.servlet.OpenAiProxyFilter;
import io.github.openaiproxy.servlet.OpenAiProxyServlet;
import jakarta.servlet.Filter;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.time.Duration;
import java.util.function.Consumer;
import org.apache.catalina.Context;
import org.apache.catalina.LifecycleException;
import org.apache.catalina.Wrapper;
import org.apache.catalina.connector.Connector;
import org.apache.catalina.startup.Tomcat;
import org.apache.coyote.http2.Http2Protocol;
import org.apache.tomcat.util.descriptor.web.FilterDef;
import org.apache.tomcat.util.descriptor.web.FilterMap;

/** An embedded Tomcat 11 on 127.0.0.1 with the proxy mounted as a servlet or as a filter. */
public final class TomcatProxy implements ProxyServer {
    private final Tomcat tomcat;
    private final ProxyEngine engine;
    private final File baseDir;

    private TomcatProxy(Tomcat tomcat, ProxyEngine engine, File baseDir) {
        this.tomcat = tomcat;
        this.engine = engine;
        this.baseDir = baseDir;
    }

    /** The proxy servlet mapped to {@code /*}. */
    public static TomcatProxy servlet(ProxyConfig config) {
        return start(config, "", "/*", false, null);
    }

    /** The proxy servlet mapped to {@code /*} on an engine built by the test (a session store of its own). */
    public static TomcatProxy servlet(ProxyEngine engine) {
        return start(engine, "", "/*", false, null);
    }

    /**
     * The proxy servlet mapped to {@code /*} on an engine built by the test, in a web application the test
     * sets up further before it starts (a realm and an authenticator, for example).
     */
    public static TomcatProxy servlet(ProxyEngine engine, Consumer<Context> setup) {
        return start(engine, "", "/*", false, null, setup);
    }

    /**
     * The proxy servlet mapped to {@code /*} on an engine built by the test, on a connector whose
     * {@code connectionTimeout} (each read's, and each write's that cannot go on) is {@code timeout}.
     */
    public static TomcatProxy servletWithConnectionTimeout(ProxyEngine engine, Duration timeout) {
        return start(
                engine,
                "",
                "/*",
                false,
                null,
                c -> {},
                connector -> connector.setProperty("connectionTimeout", Long.toString(timeout.toMillis())));
    }

    /**
     * The proxy servlet mapped to {@code /*} on an engine built by the test, on a connector that also speaks
     * HTTP/2 to clients that upgrade to it ({@code h2c}).
     */
    public static TomcatProxy servletWithH2c(ProxyEngine engine) {
        return start(
                engine, "", "/*", false, null, c -> {}, connector -> connector.addUpgradeProtocol(new Http2Protocol()));
    }

    /**
     * The proxy servlet mapped to {@code /*} on a connector that lets an encoded slash ({@code %2F}) through to the
     * application undecoded ({@code encodedSolidusHandling=passthrough}, the README's host setting for model ids
     * such as {@code meta-llama%2FLlama-3.1-8B-Instruct}, as openai-java sends them).
     */
    public static TomcatProxy servletAllowingEncodedSlashes(ProxyConfig config) {
        return start(
                ProxyEngine.create(config),
                "",
                "/*",
                false,
                null,
                c -> {},
                connector -> connector.setEncodedSolidusHandling("passthrough"));
    }

    /**
     * {@link #servletAllowingEncodedSlashes(ProxyConfig)} behind a test filter, which sees every request before the
     * proxy does (the Node SDK, 5.x and later, sends a model id's slash as {@code %2F} too).
     */
    public static TomcatProxy servletAllowingEncodedSlashes(ProxyConfig config, Filter front) {
        return start(
                ProxyEngine.create(config),
                "",
                "/*",
                false,
                front,
                c -> {},
                connector -> connector.setEncodedSolidusHandling("passthrough"));
    }

    /**
     * The proxy servlet mapped to {@code /*} behind a test filter (for example a {@link RecordingFilter}),
     * which sees every request before the proxy does.
     */
    public static TomcatProxy servlet(ProxyConfig config, Filter front) {
        return start(config, "", "/*", false, front);
    }

    /** The proxy servlet mapped to a prefix such as {@code /ai/*}. */
    public static TomcatProxy servlet(ProxyConfig config, String mapping) {
        return start(config, "", mapping, false, null);
    }

    /**
     * The proxy servlet mapped to a prefix such as {@code /ai/*} in a web application deployed at a
     * context path such as {@code /shop}.
     */
    public static TomcatProxy servletInContext(ProxyConfig config, String contextPath, String mapping) {
        return start(config, contextPath, mapping, false, null);
    }

    /** The servlet on {@code engine}, mapped at {@code mapping} in a web application at {@code contextPath}. */
    public static TomcatProxy servletInContext(ProxyEngine engine, String contextPath, String mapping) {
        return start(engine, contextPath, mapping, false, null);
    }

    /**
     * The proxy filter on {@code /*} in front of an application servlet that answers
     * {@code 200 "app:" + path} for everything the filter passes down.
     */
    public static TomcatProxy filter(ProxyConfig config) {
        return start(config, "", "/*", true, null);
    }

    private static TomcatProxy start(
            ProxyConfig config, String contextPath, String mapping, boolean asFilter, Filter front) {
        return start(ProxyEngine.create(config), contextPath, mapping, asFilter, front);
    }

    private static TomcatProxy start(
            ProxyEngine engine, String contextPath, String mapping, boolean asFilter, Filter front) {
        return start(engine, contextPath, mapping, asFilter, front, c -> {});
    }

    private static TomcatProxy start(
            ProxyEngine engine,
            String contextPath,
            String mapping,
            boolean asFilter,
            Filter front,
            Consumer<Context> setup) {
        return start(engine, contextPath, mapping, asFilter, front, setup, connector -> {});
    }

    private static TomcatProxy start(
            ProxyEngine engine,
            String contextPath,
            String mapping,
            boolean asFilter,
            Filter front,
            Consumer<Context> setup,
            Consumer<Connector> connectorSetup) {
        try {
            File baseDir = Files.createTempDirectory("tomcat-proxy-test").toFile();
            Tomcat tomcat = new Tomcat();
            tomcat.setBaseDir(baseDir.getAbsolutePath());
            Connector connector = new Connector("HTTP/1.1");
            connector.setPort(0);
            connector.setProperty("address", "127.0.0.1");
            connectorSetup.accept(connector);
            tomcat.setConnector(connector);
            Context context = tomcat.addContext(contextPath, baseDir.getAbsolutePath());
            if (front != null) {
                FilterDef def = new FilterDef();
                def.setFilterName("test-front");
                def.setFilter(front);
                def.setAsyncSupported("true");
                context.addFilterDef(def);
                FilterMap map = new FilterMap();
                map.setFilterName("test-front");
                map.addURLPattern("/*");
                context.addFilterMap(map);
            }
            if (asFilter) {
                FilterDef def = new FilterDef();
                def.setFilterName("openai-proxy");
                def.setFilter(new OpenAiProxyFilter(engine));
                def.setAsyncSupported("true");
                context.addFilterDef(def);
                FilterMap map = new FilterMap();
                map.setFilterName("openai-proxy");
                map.addURLPattern("/*");
                context.addFilterMap(map);
                Wrapper app = Tomcat.addServlet(context, "app", new AppServlet());
                app.setAsyncSupported(true);
                context.addServletMappingDecoded("/", "app");
            } else {
                Wrapper w = Tomcat.addServlet(context, "openai-proxy", new OpenAiProxyServlet(engine));
                w.setAsyncSupported(true);
                context.addServletMappingDecoded(mapping, "openai-proxy");
            }
            setup.accept(context);
            tomcat.start();
            return new TomcatProxy(tomcat, engine, baseDir);
        } catch (IOException | LifecycleException e) {
            throw new IllegalStateException("could not start Tomcat", e);
        }
    }

    /** The engine behind the servlet, for what is not visible over HTTP (such as calls in flight). */
    public ProxyEngine engine() {
        return engine;
    }

    @Override
    public int port() {
        return tomcat.getConnector().getLocalPort();
    }

    @Override
    public void close() {
        try {
            tomcat.stop();
            tomcat.destroy();
        } catch (LifecycleException e) {
            throw new IllegalStateException(e);
        } finally {
            engine.close();
            delete(baseDir);
        }
    }

    private static void delete(File f) {
        File[] children = f.listFiles();
        if (children != null) {
            for (File c : children) {
                delete(c);
            }
        }
        f.delete();
    }
}
