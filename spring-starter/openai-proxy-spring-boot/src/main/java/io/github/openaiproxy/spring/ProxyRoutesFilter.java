package io.github.openaiproxy.spring;

import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.route.Route;
import io.github.openaiproxy.core.route.RouteTable;
import io.github.openaiproxy.servlet.OpenAiProxyFilter;
import jakarta.servlet.Filter;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletRequest;
import jakarta.servlet.ServletResponse;
import jakarta.servlet.http.HttpServletRequest;
import java.io.IOException;
import java.util.Optional;

/**
 * The proxy mounted at {@code /} of an application that has routes of its own. It takes only the requests
 * the proxy serves: a proxy route with one of its methods, or a CORS preflight asking for one. Everything
 * else goes down the chain, so {@code GET /} still reaches the application's home page while
 * {@code POST /} is the proxy's chat route.
 *
 * <p>Built-in routes (the simple routes and the pass-through routes) are matched with their methods here.
 * Every other path is left to {@link OpenAiProxyFilter}, which asks the engine's own route table: the
 * engine's custom routes, that is the session routes ({@code /sessions...}, unless sessions are disabled)
 * and the routes of modules ({@code /graphql}), are taken whatever the method (a wrong one gets the
 * proxy's 405), and paths the engine does not serve go down the chain.
 */
final class ProxyRoutesFilter implements Filter {
    private final OpenAiProxyFilter proxy;
    private final RouteTable routes;

    ProxyRoutesFilter(ProxyEngine engine) {
        this.proxy = new OpenAiProxyFilter(engine);
        this.routes = RouteTable.of(engine.config().passThroughRoutes());
    }

    @Override
    public void doFilter(ServletRequest req, ServletResponse res, FilterChain chain)
            throws IOException, ServletException {
        if (req instanceof HttpServletRequest request && served(request)) {
            proxy.doFilter(req, res, chain); // the proxy answers (and passes on what is not its route)
        } else {
            chain.doFilter(req, res);
        }
    }

    private boolean served(HttpServletRequest request) {
        Optional<Route> route = routes.match(pathWithinApplication(request));
        if (route.isEmpty()) {
            return true; // not a built-in route: the proxy filter asks the engine (sessions, modules, or the chain)
        }
        String method = request.getMethod();
        if (method.equals("OPTIONS")) {
            String requested = request.getHeader("Access-Control-Request-Method");
            return requested != null && route.get().methods().contains(requested.strip());
        }
        return route.get().methods().contains(method);
    }

    /** The request path below the context path, still encoded, as the servlet adapter computes it. */
    static String pathWithinApplication(HttpServletRequest request) {
        String uri = request.getRequestURI();
        String context = request.getContextPath();
        String path = context != null && !context.isEmpty() && uri.startsWith(context)
                ? uri.substring(context.length())
                : uri;
        if (path.indexOf(';') >= 0) {
            path = path.replaceAll(";[^/]*", "");
        }
        return path.isEmpty() ? "/" : path;
    }
}
