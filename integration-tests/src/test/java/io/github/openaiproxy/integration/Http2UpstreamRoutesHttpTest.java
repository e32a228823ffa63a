package io.github.openaiproxy.integration;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.servlet.support.RawHttp;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import io.github.openaiproxy.testsupport.H2cUpstream;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code upstream-http-version=2} through Tomcat on the routes that are not a chat stream: an upload streamed to the
 * upstream, larger than HTTP/2's windows, arrives whole, and named upstreams fail over from one h2c upstream to
 * another, each called over HTTP/2.
 */
class Http2UpstreamRoutesHttpTest {
    private static final String KEY = "sk-server-key-for-h2c-0123456789";

    @ParameterizedTest(name = "declared length: {0}")
    @ValueSource(booleans = {true, false})
    void anUploadLargerThanTheWindowsStreamsToTheUpstreamWhole(boolean declared) throws Exception {
        try (H2cUpstream upstream = H2cUpstream.start();
                TomcatProxy proxy = TomcatProxy.servlet(ProxySettings.from(Map.of(
                                "api-key",
                                KEY,
                                "base-url",
                                upstream.baseUrl().toString(),
                                "upstream-http-version",
                                "2",
                                "pass-through-routes",
                                "POST /v1/files"))
                        .toConfig())) {
            // 5 MiB: past the server's stream and connection windows, so the upload waits for WINDOW_UPDATEs.
            StringBuilder content = new StringBuilder();
            for (int i = 0; content.length() < 5 * 1024 * 1024; i++) {
                content.append("{\"line\":").append(i).append("}\n");
            }
            String multipart = "--b0undary\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nfine-tune\r\n"
                    + "--b0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"train.jsonl\"\r\n"
                    + "Content-Type: application/jsonl\r\n\r\n" + content + "\r\n--b0undary--\r\n";
            byte[] body = multipart.getBytes(StandardCharsets.UTF_8);
            String head = "POST /v1/files HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    + "Content-Type: multipart/form-data; boundary=b0undary\r\n";
            RawHttp.Response r = declared
                    ? RawHttp.exchange(proxy.port(), head, body)
                    : RawHttp.exchange(
                            proxy.port(), head + "Transfer-Encoding: chunked\r\n", RawHttp.chunked(body, 64 * 1024));

            assertThat(r.status()).isEqualTo(200);
            H2cUpstream.Seen seen = upstream.seen().get(0);
            assertThat(seen.protocol()).isEqualTo("HTTP/2.0");
            assertThat(seen.path()).isEqualTo("/v1/files");
            assertThat(seen.headers()).containsEntry("content-type", "multipart/form-data; boundary=b0undary");
            assertThat(seen.body()).isEqualTo(multipart);
        }
    }

    @ParameterizedTest(name = "fallback with a timeout of its own: {0}")
    @ValueSource(booleans = {false, true})
    void namedUpstreamsFailOverFromOneHttp2UpstreamToAnother(boolean ownTimeout) throws Exception {
        H2cUpstream gone = H2cUpstream.start();
        String goneUrl = gone.baseUrl().toString();
        gone.close(); // its port now refuses connections
        try (H2cUpstream backup = H2cUpstream.start()) {
            Map<String, String> s = new HashMap<>();
            s.put("upstream-http-version", "2");
            s.put("upstreams.first.kind", "compatible");
            s.put("upstreams.first.base-url", goneUrl);
            s.put("upstreams.first.models", "gpt-4o-mini");
            s.put("upstreams.first.retries", "0");
            s.put("upstreams.first.fallback", "second");
            s.put("upstreams.second.kind", "compatible");
            s.put("upstreams.second.base-url", backup.baseUrl().toString());
            s.put("upstreams.second.keys", KEY);
            if (ownTimeout) {
                s.put("upstreams.second.timeout", "20s"); // a client of its own, made from the proxy's
            }
            try (TomcatProxy proxy = TomcatProxy.servlet(ProxySettings.from(s).toConfig())) {
                for (int i = 0; i < 2; i++) {
                    RawHttp.Response r = RawHttp.exchange(
                            proxy.port(),
                            "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                    + "Content-Type: application/json\r\n",
                            "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
                                    .getBytes(StandardCharsets.UTF_8));
                    assertThat(r.status()).isEqualTo(200);
                    assertThat(r.bodyText()).contains("over h2c");
                }
                assertThat(backup.seen()).hasSize(2).allSatisfy(seen -> {
                    assertThat(seen.protocol()).isEqualTo("HTTP/2.0");
                    assertThat(seen.headers()).containsEntry("authorization", "Bearer " + KEY);
                });
                assertThat(backup.seen().stream()
                                .map(H2cUpstream.Seen::connection)
                                .distinct())
                        .hasSize(1);
            }
        }
    }
}
