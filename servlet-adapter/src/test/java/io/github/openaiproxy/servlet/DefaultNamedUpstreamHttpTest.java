package io.github.openaiproxy.servlet;

import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.testing.Upstream;
import io.github.openaiproxy.servlet.support.Http;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@code upstreams.openai.*} replaces {@code api-key} / {@code base-url} as the default upstream for every request,
 * also those whose body names no model the proxy can read: a file upload (multipart) goes there with its key.
 */
class DefaultNamedUpstreamHttpTest {
    private static final String KEY = "sk-named-default-0123456789abcdefghij";

    @RegisterExtension
    static WireMockExtension named = Upstream.extension();

    private TomcatProxy proxy;

    @AfterEach
    void stop() {
        if (proxy != null) {
            proxy.close();
        }
    }

    @Test
    void aMultipartUploadGoesToTheConfiguredDefaultUpstreamAsSent() {
        named.stubFor(any(anyUrl()).willReturn(okJson("{\"id\":\"file-1\",\"object\":\"file\"}")));
        proxy = TomcatProxy.servlet(ProxySettings.from(Map.of(
                        "upstreams.openai.base-url",
                        named.baseUrl(),
                        "upstreams.openai.keys",
                        KEY,
                        "pass-through-routes",
                        "POST /v1/files"))
                .toConfig());
        String multipart = "--b\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n"
                + "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jsonl\"\r\n"
                + "Content-Type: application/octet-stream\r\n\r\n{}\r\n--b--\r\n";

        var r = Http.call("POST", proxy.uri("/v1/files"), multipart, "Content-Type", "multipart/form-data; boundary=b");

        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        LoggedRequest sent = Upstream.onlyRequest(named);
        assertThat(sent.getUrl()).isEqualTo("/v1/files");
        assertThat(sent.getHeader("Authorization")).isEqualTo("Bearer " + KEY);
        assertThat(sent.getHeader("Content-Type")).isEqualTo("multipart/form-data; boundary=b");
        assertThat(sent.getBodyAsString()).isEqualTo(multipart);
    }
}
