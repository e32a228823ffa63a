package io.github.openaiproxy.examples.standalone;

import org.apache.catalina.connector.Request;
import org.apache.catalina.connector.Response;
import org.apache.catalina.core.StandardHost;
import org.apache.catalina.valves.ErrorReportValve;

/**
 * The error pages Tomcat itself writes (a malformed URI, a refused TRACE) before the proxy sees a request:
 * never sniffed, and never naming Tomcat's version or showing a stack trace. The proxy's own answers carry
 * {@code X-Content-Type-Options: nosniff} already.
 */
final class ContainerPages extends ErrorReportValve {
    ContainerPages() {
        setShowReport(false);
        setShowServerInfo(false);
    }

    /** Replaces the host's default error page valve. */
    static void install(StandardHost host) {
        host.setErrorReportValveClass(""); // no default one at start: this one instead
        host.getPipeline().addValve(new ContainerPages());
    }

    @Override
    protected void report(Request request, Response response, Throwable throwable) {
        if (!response.isCommitted()) {
            response.setHeader("X-Content-Type-Options", "nosniff");
        }
        super.report(request, response, throwable);
    }
}
