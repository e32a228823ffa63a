package io.github.openaiproxy.graphql.support;

import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.options;

import com.github.tomakehurst.wiremock.WireMockServer;
import com.github.tomakehurst.wiremock.client.WireMock;
import java.net.URI;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/** A WireMock server standing in for OpenAI, one per test class, reset before each test. */
public final class Upstream implements BeforeAllCallback, BeforeEachCallback, AfterAllCallback {
    /** A completion whose content is "re: " and the last message sent (WireMock templating). */
    public static final String ECHO = "{\"id\":\"chatcmpl-echo\",\"object\":\"chat.completion\",\"created\":1,"
            + "\"model\":\"gpt-3.5-turbo-0125\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
            + "\"content\":\"re: {{jsonPath request.body '$.messages[-1].content'}}\"},\"finish_reason\":\"stop\"}]}";

    private WireMockServer server;

    @Override
    public void beforeAll(ExtensionContext context) {
        server = new WireMockServer(options().dynamicPort().bindAddress("127.0.0.1"));
        server.start();
    }

    @Override
    public void beforeEach(ExtensionContext context) {
        server.resetAll();
    }

    @Override
    public void afterAll(ExtensionContext context) {
        server.stop();
    }

    public WireMockServer server() {
        return server;
    }

    public URI baseUrl() {
        return URI.create("http://127.0.0.1:" + server.port());
    }

    /** Chat completions answer with {@link #ECHO}. */
    public void echoChats() {
        server.stubFor(WireMock.post("/v1/chat/completions")
                .willReturn(WireMock.aResponse()
                        .withHeader("Content-Type", "application/json")
                        .withBody(ECHO)
                        .withTransformers("response-template")));
    }
}
