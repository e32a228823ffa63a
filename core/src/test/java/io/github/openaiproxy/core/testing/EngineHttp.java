package io.github.openaiproxy.core.testing;

import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;

/** The calls of servlet-adapter's {@code Http} test client, answered by an {@link EngineServer} in process. */
public final class EngineHttp {
    private EngineHttp() {}

    /**
     * Any method, with a body when {@code body} is not {@code null} (no {@code Content-Type} is added:
     * pass one in the header pairs).
     */
    public static HttpResponse<String> call(
            String method, EngineServer.Target target, String body, String... headerPairs) {
        return send(method, target, body == null ? null : body.getBytes(StandardCharsets.UTF_8), headerPairs);
    }

    /** Any method with a body of bytes (or {@code null}), read as UTF-8 text. */
    public static HttpResponse<String> send(
            String method, EngineServer.Target target, byte[] body, String... headerPairs) {
        return target.server().exchangeText(method, target.pathAndQuery(), body, headerPairs);
    }

    /** The same, keeping the answer as bytes. */
    public static HttpResponse<byte[]> sendForBytes(
            String method, EngineServer.Target target, byte[] body, String... headerPairs) {
        return target.server().exchange(method, target.pathAndQuery(), body, headerPairs);
    }

    /** {@code POST} of a JSON body with {@code Content-Type: application/json} and extra header pairs. */
    public static HttpResponse<String> postJson(EngineServer.Target target, String json, String... headerPairs) {
        String[] all = new String[headerPairs.length + 2];
        all[0] = "Content-Type";
        all[1] = "application/json";
        System.arraycopy(headerPairs, 0, all, 2, headerPairs.length);
        return call("POST", target, json, all);
    }

    /** {@code GET} with extra header pairs. */
    public static HttpResponse<String> get(EngineServer.Target target, String... headerPairs) {
        return call("GET", target, null, headerPairs);
    }
}
