package io.github.openaiproxy.servlet;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.testing.Upstream;
import java.io.File;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.apache.catalina.Context;
import org.apache.catalina.Wrapper;
import org.apache.catalina.connector.Connector;
import org.apache.catalina.startup.Tomcat;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A servlet registered by class name with a misspelt init parameter still starts, and its init logs one warning
 * per unknown parameter naming it and the closest setting, never its value.
 */
class UnknownInitParametersTest {
    static final String SECRET = "sk-typo-secret-0123456789";

    @Test
    void eachUnknownInitParameterIsOneWarningWithTheClosestSettingAndNoValue(@TempDir java.nio.file.Path tmp)
            throws Exception {
        Logger log = Logger.getLogger(InitParameters.class.getName());
        List<LogRecord> logged = new CopyOnWriteArrayList<>();
        Handler capture = new Handler() {
            @Override
            public void publish(LogRecord record) {
                logged.add(record);
            }

            @Override
            public void flush() {}

            @Override
            public void close() {}
        };
        log.addHandler(capture);
        File baseDir = tmp.toFile(); // deleted after the test, Tomcat's work directory with it
        Tomcat tomcat = new Tomcat();
        try {
            tomcat.setBaseDir(baseDir.getAbsolutePath());
            Connector connector = new Connector("HTTP/1.1");
            connector.setPort(0);
            connector.setProperty("address", "127.0.0.1");
            tomcat.setConnector(connector);
            Context context = tomcat.addContext("", baseDir.getAbsolutePath());
            Wrapper w = Tomcat.addServlet(context, "openai-proxy", new OpenAiProxyServlet());
            w.setAsyncSupported(true);
            w.addInitParameter("api-key", Upstream.SERVER_KEY);
            w.addInitParameter("base-url", "http://127.0.0.1:9");
            w.addInitParameter("policies.free.max-tokens", "10");
            w.addInitParameter("limits.stor", "memory");
            w.addInitParameter("api-keys", SECRET);
            w.setLoadOnStartup(1);
            context.addServletMappingDecoded("/", "openai-proxy");
            tomcat.start();
            HttpResponse<String> models = HttpClient.newHttpClient()
                    .send(
                            HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
                                            + tomcat.getConnector().getLocalPort() + "/no-such-route"))
                                    .build(),
                            HttpResponse.BodyHandlers.ofString());
            assertThat(models.statusCode())
                    .as("the servlet started and answers")
                    .isEqualTo(404);
            assertThat(models.body()).contains("error");
        } finally {
            log.removeHandler(capture);
            tomcat.stop();
            tomcat.destroy();
        }
        assertThat(logged.stream()
                        .filter(r -> r.getLevel().intValue() >= Level.WARNING.intValue())
                        .map(LogRecord::getMessage)
                        .toList())
                .containsExactlyInAnyOrder(
                        "openai-proxy: init parameter unknown setting api-keys is ignored; did you mean api-key?",
                        "openai-proxy: init parameter unknown setting limits.stor is ignored;"
                                + " did you mean limits.store?");
        assertThat(logged).noneMatch(r -> String.valueOf(r.getMessage()).contains(SECRET));
    }
}
