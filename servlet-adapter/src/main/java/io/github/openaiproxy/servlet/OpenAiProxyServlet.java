package io.github.openaiproxy.servlet;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.config.ProxySettings;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletMapping;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import jakarta.servlet.http.MappingMatch;
import java.io.IOException;

/**
 * The proxy as a servlet. Map it to a path prefix such as {@code /*} or {@code /ai/*}, with
 * {@code asyncSupported=true}; every request under the prefix is the proxy's (unknown paths get a JSON
 * 404).
 *
 * <p>Programmatic registration passes an engine ({@link #OpenAiProxyServlet(ProxyEngine)}; the caller
 * closes it). Registered by class name (web.xml), the servlet builds its own engine from its init
 * parameters, which take the keys of {@link ProxySettings} ({@code api-key}, {@code base-url},
 * {@code cors.allowed-origins}, ...), falling back to the environment variables of
 * {@link ProxySettings#fromEnvironment}; it closes that engine on {@link #destroy()}.
 */
public class OpenAiProxyServlet extends HttpServlet {
    private static final long serialVersionUID = 1L;

    private transient ProxyEngine engine;
    private transient boolean ownsEngine;

    /** For registration by class name: the engine is built from init parameters in {@link #init()}. */
    public OpenAiProxyServlet() {}

    /** Serves requests with the given engine; the caller keeps ownership of it. */
    public OpenAiProxyServlet(ProxyEngine engine) {
        this.engine = engine;
    }

    @Override
    public void init() throws ServletException {
        if (engine == null) {
            try {
                ProxyConfig config = InitParameters.toConfig(
                        this::getInitParameter, () -> java.util.Collections.list(getInitParameterNames()));
                engine = ProxyEngine.create(config);
                ownsEngine = true;
                log("openai-proxy servlet started: " + config);
            } catch (IllegalArgumentException e) {
                throw new ServletException("openai-proxy: " + e.getMessage(), e);
            }
        }
    }

    @Override
    protected void service(HttpServletRequest request, HttpServletResponse response) throws IOException {
        ServletExchange.run(engine, request, response, relativePath(request), mapping(request));
    }

    /** The servlet's prefix mapping as configured ({@code /ai} for {@code /ai/*}); empty for any other mapping. */
    static String mapping(HttpServletRequest request) {
        HttpServletMapping mapping = request.getHttpServletMapping();
        if (mapping != null && mapping.getMappingMatch() == MappingMatch.PATH) {
            String pattern = mapping.getPattern(); // e.g. "/ai/*" or "/*"
            return pattern.substring(0, pattern.length() - 2);
        }
        return "";
    }

    /** The path below the servlet's prefix mapping, still encoded. */
    static String relativePath(HttpServletRequest request) {
        String path = ServletExchange.pathWithinApplication(request);
        String prefix = mapping(request);
        if (path.startsWith(prefix)) {
            path = path.substring(prefix.length());
        }
        return path.isEmpty() ? "/" : path;
    }

    @Override
    public void destroy() {
        if (ownsEngine && engine != null) {
            engine.close();
        }
    }
}
