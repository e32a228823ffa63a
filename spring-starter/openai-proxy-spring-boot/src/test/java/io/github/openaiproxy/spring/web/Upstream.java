package io.github.openaiproxy.spring.web;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.get;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.options;

import com.github.tomakehurst.wiremock.WireMockServer;

/** A WireMock stand-in for OpenAI with the answers the integration tests need. */
final class Upstream {
    static final String KEY = "sk-server-secret-7";

    static final String COMPLETION = """
            {"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini",
             "choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the upstream"},
             "logprobs":null,"finish_reason":"stop"}],
             "usage":{"prompt_tokens":9,"completion_tokens":4,"total_tokens":13}}""";

    static final String STREAM = chunk("{\"role\":\"assistant\",\"content\":\"\"}")
            + chunk("{\"content\":\"Hel\"}")
            + chunk("{\"content\":\"lo \"}")
            + chunk("{\"content\":\"stream\"}")
            + "data: {\"id\":\"chatcmpl-2\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
            + "\"model\":\"gpt-4o-mini\",\"choices\":[],"
            + "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":3,\"total_tokens\":8}}\n\n"
            + "data: [DONE]\n\n";

    private Upstream() {}

    static WireMockServer start() {
        WireMockServer server = new WireMockServer(options().dynamicPort().bindAddress("127.0.0.1"));
        server.start();
        server.stubFor(post("/v1/chat/completions").willReturn(okJson(COMPLETION)));
        server.stubFor(get("/v1/models")
                .willReturn(okJson("{\"object\":\"list\",\"data\":[{\"id\":\"gpt-4o-mini\",\"object\":\"model\","
                        + "\"created\":1700000000,\"owned_by\":\"openai\"}]}")));
        return server;
    }

    /** Streams {@link #STREAM} for requests whose body asks for a stream. */
    static void stubStream(WireMockServer server) {
        server.stubFor(post("/v1/chat/completions")
                .withRequestBody(com.github.tomakehurst.wiremock.client.WireMock.matchingJsonPath(
                        "$.stream", com.github.tomakehurst.wiremock.client.WireMock.equalTo("true")))
                .atPriority(1)
                .willReturn(aResponse()
                        .withHeader("Content-Type", "text/event-stream")
                        .withBody(STREAM)));
    }

    private static String chunk(String delta) {
        return "data: {\"id\":\"chatcmpl-2\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
                + "\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":" + delta
                + ",\"finish_reason\":null}]}\n\n";
    }
}
