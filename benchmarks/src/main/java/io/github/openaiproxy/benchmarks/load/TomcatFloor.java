package io.github.openaiproxy.benchmarks.load;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.util.Map;
import org.apache.catalina.Context;
import org.apache.catalina.connector.Connector;
import org.apache.catalina.startup.Tomcat;

/**
 * The container's floor: the standalone server's embedded Tomcat, with the same connector settings,
 * answering every POST with the stub's canned chat completion from memory. No proxying at all: what it
 * costs per request is what any servlet-based proxy pays before doing anything.
 *
 * <p>{@code java -cp benchmarks/target/benchmarks.jar io.github.openaiproxy.benchmarks.load.TomcatFloor --port=8788}
 */
public final class TomcatFloor {
    private TomcatFloor() {}

    public static void main(String[] args) throws Exception {
        Map<String, String> o = Args.parse(args);
        Tomcat tomcat = new Tomcat();
        tomcat.setBaseDir(Files.createTempDirectory("tomcat-floor").toString());
        Connector connector = new Connector("HTTP/1.1");
        connector.setPort(Integer.parseInt(o.getOrDefault("port", "8788")));
        connector.setProperty("address", "127.0.0.1");
        // As StandaloneServer.tune sets them.
        int threads = Math.max(8, 4 * Runtime.getRuntime().availableProcessors());
        connector.setProperty("maxThreads", Integer.toString(threads));
        connector.setProperty("minSpareThreads", Integer.toString(Math.min(threads, 4)));
        connector.setProperty("maxKeepAliveRequests", "-1");
        connector.setProperty("socket.appReadBufSize", "4096");
        connector.setProperty("maxHttpResponseHeaderSize", "4096");
        tomcat.setConnector(connector);
        Context context = tomcat.addContext("", null);
        byte[] answer = StubBodies.chatCompletion();
        Tomcat.addServlet(context, "canned", new HttpServlet() {
            private static final long serialVersionUID = 1L;

            @Override
            protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
                try (InputStream in = req.getInputStream()) {
                    in.transferTo(java.io.OutputStream.nullOutputStream());
                }
                resp.setStatus(200);
                resp.setContentType("application/json");
                resp.setContentLength(answer.length);
                resp.getOutputStream().write(answer);
            }
        });
        context.addServletMappingDecoded("/*", "canned");
        tomcat.start();
        System.out.println("TOMCAT_FLOOR_PORT=" + connector.getLocalPort());
        tomcat.getServer().await();
    }
}
