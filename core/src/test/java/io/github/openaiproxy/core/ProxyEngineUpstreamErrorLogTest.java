package io.github.openaiproxy.core;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static io.github.openaiproxy.core.EngineFixture.CHAT;
import static io.github.openaiproxy.core.EngineFixture.config;
import static io.github.openaiproxy.core.EngineFixture.send;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.testing.Answer;
import io.github.openaiproxy.testsupport.WireMockUpstream;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * An upstream's error message may quote what the client sent (OpenAI's 400s quote a parameter's value, some
 * compatible servers the prompt): at INFO the proxy logs the status and the error's code, the message only at
 * DEBUG. The client still gets the message.
 */
class ProxyEngineUpstreamErrorLogTest {
    @RegisterExtension
    static final WireMockUpstream upstream = new WireMockUpstream();

    @Test
    void anUpstreamErrorIsLoggedAtInfoByItsStatusAndCodeNotByItsMessage() {
        String quoted = "my-private-prompt-text-4711";
        upstream.server()
                .stubFor(post("/v1/chat/completions")
                        .willReturn(aResponse()
                                .withStatus(400)
                                .withHeader("Content-Type", "application/json")
                                .withBody("{\"error\":{\"message\":\"Invalid value for 'content': '" + quoted
                                        + "' is not allowed\",\"type\":\"invalid_request_error\",\"param\":"
                                        + "\"messages\",\"code\":\"invalid_value\"}}")));
        List<LogRecord> logged = new CopyOnWriteArrayList<>();
        Handler handler = new Handler() {
            @Override
            public void publish(LogRecord r) {
                logged.add(r);
            }

            @Override
            public void flush() {}

            @Override
            public void close() {}
        };
        Logger proxyLogs = Logger.getLogger("io.github.openaiproxy");
        proxyLogs.addHandler(handler);
        try (ProxyEngine engine = ProxyEngine.create(config(upstream.baseUrl()).build())) {
            Answer a = send(engine, EngineFixture.post("/v1/chat/completions", CHAT));

            assertThat(a.status()).isEqualTo(400);
            assertThat(a.text()).contains(quoted); // the client's own text, relayed to the client
        } finally {
            proxyLogs.removeHandler(handler);
        }
        List<String> info = logged.stream()
                .filter(r -> r.getLevel().intValue() >= Level.INFO.intValue())
                .map(r -> r.getMessage() + " " + java.util.Arrays.toString(r.getParameters()))
                .toList();
        assertThat(info).anySatisfy(line -> assertThat(line).contains("400").contains("invalid_value"));
        assertThat(info).noneSatisfy(line -> assertThat(line).contains(quoted));
    }
}
