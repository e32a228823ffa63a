package io.github.openaiproxy.examples.standalone;

import io.github.openaiproxy.core.error.ErrorStyle;
import io.github.openaiproxy.core.error.ProxyError;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import org.apache.catalina.Context;
import org.apache.catalina.startup.Tomcat;

/**
 * {@code GET /healthz}: 200 {@code {"status":"ok"}} while the server serves requests, for container health checks
 * and orchestrators' probes. It answers whatever the {@code Host} (a probe names the pod's address, which
 * {@code allowed-hosts} would refuse), calls no upstream and reads no key or store, so it says nothing a caller
 * could not learn by connecting, and costs nothing to ask often. Other methods are 405.
 */
final class HealthCheck extends HttpServlet {
    private static final long serialVersionUID = 1L;
    static final String PATH = "/healthz";
    private static final byte[] OK = "{\"status\":\"ok\"}".getBytes(StandardCharsets.UTF_8);
    private static final String ALLOW = "GET, HEAD";

    /** Maps the check at its exact path, which wins over the proxy's {@code /*}. */
    static void install(Context context) {
        Tomcat.addServlet(context, "health-check", new HealthCheck());
        context.addServletMappingDecoded(PATH, "health-check");
    }

    @Override
    protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        boolean get = req.getMethod().equals("GET");
        boolean head = req.getMethod().equals("HEAD");
        resp.setHeader("Cache-Control", "no-store");
        resp.setHeader("X-Content-Type-Options", "nosniff");
        resp.setContentType("application/json");
        byte[] body = OK;
        if (!get && !head) {
            // The proxy's own 405, in OpenAI's error shape like every other answer of the server.
            ProxyError error = ProxyError.methodNotAllowed(req.getMethod(), ALLOW);
            resp.setStatus(error.status());
            error.headers().forEach(resp::setHeader);
            body = ErrorStyle.OPENAI.render(error);
        }
        resp.setContentLength(body.length);
        if (!head) {
            resp.getOutputStream().write(body);
        }
    }
}
