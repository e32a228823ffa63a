package io.github.openaiproxy.core;

import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.testing.Answer;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

/** Shorthands for driving a {@link ProxyEngine} the way an adapter does. */
final class EngineFixture {
    static final String SERVER_KEY = "sk-proj-server0123456789abcdefghijklmnopqrstuvwxyz";
    static final String CHAT = "{\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}";
    static final String CHAT_COMPLETION = "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1,"
            + "\"model\":\"gpt-3.5-turbo\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
            + "\"content\":\"Hi!\"},\"finish_reason\":\"stop\"}]}";

    private EngineFixture() {}

    /** A configuration with the server key, calling {@code baseUrl}. */
    static ProxyConfig.Builder config(URI baseUrl) {
        return ProxyConfig.builder()
                .apiKey(SERVER_KEY)
                .upstream(UpstreamConfig.defaults().withBaseUrl(baseUrl));
    }

    /** A configuration with the server key, calling {@code baseUrl} through the given client. */
    static ProxyConfig.Builder config(URI baseUrl, UpstreamConfig.ClientKind client) {
        return ProxyConfig.builder()
                .apiKey(SERVER_KEY)
                .upstream(UpstreamConfig.defaults().withBaseUrl(baseUrl).withClient(client));
    }

    static ProxyRequest.Builder post(String path, String json) {
        return ProxyRequest.builder("POST", path)
                .header("Content-Type", "application/json")
                .body(json.getBytes(StandardCharsets.UTF_8));
    }

    static ProxyRequest.Builder get(String path) {
        return ProxyRequest.builder("GET", path);
    }

    /** Handles a request and reads the whole answer, waiting generously. */
    static Answer send(ProxyEngine engine, ProxyRequest.Builder request) {
        try {
            return Answer.of(engine.handle(request.build()).get(30, TimeUnit.SECONDS));
        } catch (Exception e) {
            throw new AssertionError("the engine did not answer", e);
        }
    }
}
