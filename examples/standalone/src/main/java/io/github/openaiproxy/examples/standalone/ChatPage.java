package io.github.openaiproxy.examples.standalone;

import jakarta.servlet.Filter;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletRequest;
import jakarta.servlet.ServletResponse;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.InputStream;
import java.util.Map;
import org.apache.catalina.Context;
import org.apache.catalina.Wrapper;
import org.apache.catalina.startup.Tomcat;
import org.apache.tomcat.util.descriptor.web.FilterDef;
import org.apache.tomcat.util.descriptor.web.FilterMap;

/**
 * Serves the browser chat page (module examples/chat-ui, on the classpath under
 * {@code META-INF/resources/chat/}) at {@code /chat/}, and sends a browser that opens {@code /} there.
 * The proxy keeps every other path but {@code /healthz} ({@link HealthCheck}).
 */
final class ChatPage extends HttpServlet {
    private static final long serialVersionUID = 1L;
    static final String PATH = "/chat/";
    private static final String ROOT = "META-INF/resources/chat/";
    private static final Map<String, String> TYPES = Map.of(
            "html", "text/html; charset=utf-8",
            "js", "text/javascript; charset=utf-8",
            "css", "text/css; charset=utf-8",
            "svg", "image/svg+xml",
            "png", "image/png");

    static void install(Context context) {
        Wrapper page = Tomcat.addServlet(context, "chat-page", new ChatPage());
        page.setAsyncSupported(true);
        context.addServletMappingDecoded("/chat/*", "chat-page");
        FilterDef def = new FilterDef();
        def.setFilterName("chat-redirect");
        def.setFilter(new BrowserRedirect());
        def.setAsyncSupported("true");
        context.addFilterDef(def);
        FilterMap map = new FilterMap();
        map.setFilterName("chat-redirect");
        map.addURLPattern("/*");
        context.addFilterMap(map);
    }

    @Override
    protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        String pathInfo = req.getPathInfo();
        if (pathInfo == null) {
            resp.sendRedirect(req.getContextPath() + PATH);
            return;
        }
        String name = pathInfo.equals("/") ? "index.html" : pathInfo.substring(1);
        String ext = name.substring(name.lastIndexOf('.') + 1);
        if (!name.matches("[A-Za-z0-9_-]+\\.[a-z]+") || !TYPES.containsKey(ext)) {
            resp.sendError(404);
            return;
        }
        try (InputStream in = ChatPage.class.getClassLoader().getResourceAsStream(ROOT + name)) {
            if (in == null) {
                resp.sendError(404);
                return;
            }
            resp.setContentType(TYPES.get(ext));
            resp.setHeader("Cache-Control", "no-cache");
            resp.setHeader("X-Content-Type-Options", "nosniff");
            in.transferTo(resp.getOutputStream());
        }
    }

    /** {@code GET /} from a browser (it asks for HTML) goes to the chat page; API clients still get the proxy. */
    static final class BrowserRedirect implements Filter {
        @Override
        public void doFilter(ServletRequest request, ServletResponse response, FilterChain chain)
                throws IOException, ServletException {
            if (request instanceof HttpServletRequest req
                    && response instanceof HttpServletResponse resp
                    && req.getMethod().equals("GET")
                    && (req.getRequestURI().equals("/") || req.getRequestURI().isEmpty())
                    && String.valueOf(req.getHeader("Accept")).contains("text/html")) {
                resp.sendRedirect(PATH);
                return;
            }
            chain.doFilter(request, response);
        }
    }
}
