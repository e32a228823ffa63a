package io.github.openaiproxy.graphql.support;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.graphql.GraphQlOptions;
import io.github.openaiproxy.graphql.GraphQlRoute;
import io.github.openaiproxy.servlet.OpenAiProxyServlet;
import java.io.File;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.time.Duration;
import java.util.function.UnaryOperator;
import org.apache.catalina.Context;
import org.apache.catalina.LifecycleException;
import org.apache.catalina.Wrapper;
import org.apache.catalina.connector.Connector;
import org.apache.catalina.startup.Tomcat;
import org.apache.coyote.http2.Http2Protocol;

/**
 * An embedded Tomcat 11 on 127.0.0.1 serving the proxy servlet at {@code /*} with the GraphQL route
 * mounted on its engine, and an HTTP client to call it.
 */
public final class GraphQlServer implements AutoCloseable {
    public static final String SERVER_KEY = "sk-proj-server0123456789abcdefghijklmnopqrstuvwxyz";

    private final Tomcat tomcat;
    private final ProxyEngine engine;
    private final File baseDir;
    private final HttpClient http =
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

    private GraphQlServer(Tomcat tomcat, ProxyEngine engine, File baseDir) {
        this.tomcat = tomcat;
        this.engine = engine;
        this.baseDir = baseDir;
    }

    /** A configuration with the server key, calling {@code upstream}. */
    public static ProxyConfig.Builder config(URI upstream) {
        return ProxyConfig.builder()
                .apiKey(SERVER_KEY)
                .upstream(UpstreamConfig.defaults().withBaseUrl(upstream));
    }

    public static GraphQlServer start(ProxyConfig config) {
        return start(config, GraphQlOptions.DEFAULTS, b -> b);
    }

    public static GraphQlServer start(
            ProxyConfig config, GraphQlOptions options, UnaryOperator<ProxyEngine.Builder> extras) {
        return start(config, options, extras, false);
    }

    /**
     * As {@link #start(ProxyConfig, GraphQlOptions, UnaryOperator)}, also speaking HTTP/2 over cleartext
     * (h2c, by upgrade): there the container learns at once when a client abandons a request (RST_STREAM),
     * which HTTP/1.1 containers cannot while an async request waits.
     */
    public static GraphQlServer startWithH2c(ProxyConfig config, GraphQlOptions options) {
        return start(config, options, b -> b, true);
    }

    private static GraphQlServer start(
            ProxyConfig config, GraphQlOptions options, UnaryOperator<ProxyEngine.Builder> extras, boolean h2c) {
        ProxyEngine engine = extras.apply(ProxyEngine.builder(config).route(GraphQlRoute.create(config, options)))
                .build();
        try {
            File baseDir = Files.createTempDirectory("graphql-test").toFile();
            Tomcat tomcat = new Tomcat();
            tomcat.setBaseDir(baseDir.getAbsolutePath());
            Connector connector = new Connector("HTTP/1.1");
            connector.setPort(0);
            connector.setProperty("address", "127.0.0.1");
            if (h2c) {
                connector.addUpgradeProtocol(new Http2Protocol());
            }
            tomcat.setConnector(connector);
            Context context = tomcat.addContext("", baseDir.getAbsolutePath());
            Wrapper w = Tomcat.addServlet(context, "openai-proxy", new OpenAiProxyServlet(engine));
            w.setAsyncSupported(true);
            context.addServletMappingDecoded("/*", "openai-proxy");
            tomcat.start();
            return new GraphQlServer(tomcat, engine, baseDir);
        } catch (IOException | LifecycleException e) {
            engine.close();
            throw new IllegalStateException("could not start Tomcat", e);
        }
    }

    public URI uri(String path) {
        return URI.create("http://127.0.0.1:" + tomcat.getConnector().getLocalPort() + path);
    }

    public HttpClient http() {
        return http;
    }

    /** POSTs a JSON body to /graphql and reads the answer as text. */
    public HttpResponse<String> post(String json) {
        return send(HttpRequest.newBuilder(uri("/graphql"))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(json)));
    }

    public HttpResponse<String> send(HttpRequest.Builder request) {
        try {
            return http.send(request.timeout(Duration.ofSeconds(60)).build(), HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new IllegalStateException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
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
