package io.github.openaiproxy.servlet;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import jakarta.servlet.Filter;
import jakarta.servlet.FilterChain;
import jakarta.servlet.FilterConfig;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletRequest;
import jakarta.servlet.ServletResponse;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.util.Optional;

/**
 * The proxy as a filter inside an existing application. It answers the requests the proxy serves below
 * the engine's mount path ({@link ProxyConfig#path()}, for example {@code /ai}): its routes with their
 * methods, and CORS preflights for them ({@link ProxyEngine#serves}). Every other request goes down the
 * chain untouched, so a filter mounted at {@code /} leaves the application's {@code GET /} alone. Register it for {@code /*} with {@code asyncSupported=true}.
 *
 * <p>As with {@link OpenAiProxyServlet}, pass an engine, or register by class name and configure it
 * with init parameters ({@code path}, {@code api-key}, ...).
 */
public class OpenAiProxyFilter implements Filter {
    private ProxyEngine engine;
    private boolean ownsEngine;

    /** For registration by class name: the engine is built from init parameters in {@link #init}. */
    public OpenAiProxyFilter() {}

    /** Serves requests with the given engine; the caller keeps ownership of it. */
    public OpenAiProxyFilter(ProxyEngine engine) {
        this.engine = engine;
    }

    @Override
    public void init(FilterConfig filterConfig) throws ServletException {
        if (engine == null) {
            try {
                engine = ProxyEngine.create(InitParameters.toConfig(
                        filterConfig::getInitParameter,
                        () -> java.util.Collections.list(filterConfig.getInitParameterNames())));
                ownsEngine = true;
            } catch (IllegalArgumentException e) {
                throw new ServletException("openai-proxy: " + e.getMessage(), e);
            }
        }
    }

    @Override
    public void doFilter(ServletRequest req, ServletResponse res, FilterChain chain)
            throws IOException, ServletException {
        if (req instanceof HttpServletRequest request && res instanceof HttpServletResponse response) {
            Optional<String> relative = servedPath(engine, request);
            if (relative.isPresent()) {
                String mount = engine.config().path();
                ServletExchange.run(engine, request, response, relative.get(), mount.equals("/") ? "" : mount);
                return;
            }
        }
        chain.doFilter(req, res);
    }

    /**
     * Whether {@code engine}, mounted at its configured path in front of the application, serves {@code request}: the
     * requests this filter answers and passes nothing else of.
     */
    public static boolean serves(ProxyEngine engine, HttpServletRequest request) {
        return servedPath(engine, request).isPresent();
    }

    /** The path below the mount of a request the engine serves, or empty when it is the application's. */
    private static Optional<String> servedPath(ProxyEngine engine, HttpServletRequest request) {
        return relativePath(engine.config().path(), ServletExchange.pathWithinApplication(request))
                .filter(path ->
                        engine.serves(request.getMethod(), path, request.getHeader("Access-Control-Request-Method")));
    }

    /** The path below the mount path, or empty when the request is outside it. */
    static Optional<String> relativePath(String mountPath, String path) {
        if (mountPath.equals("/")) {
            return Optional.of(path);
        }
        if (path.equals(mountPath)) {
            return Optional.of("/");
        }
        if (path.startsWith(mountPath + "/")) {
            return Optional.of(path.substring(mountPath.length()));
        }
        return Optional.empty();
    }

    @Override
    public void destroy() {
        if (ownsEngine && engine != null) {
            engine.close();
        }
    }
}
