package io.github.openaiproxy.servlet;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static io.github.openaiproxy.core.testing.ProxyAssertions.assertNoStackTrace;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import com.github.tomakehurst.wiremock.http.Fault;
import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.github.openaiproxy.core.testing.Upstream;
import io.github.openaiproxy.servlet.support.Http;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.io.UncheckedIOException;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * An upstream body that breaks after the headers ends the client's response instead of leaving it
 * waiting. The upstream-error table (masked, wrapped or relayed errors, relayed headers, 502 and 504)
 * runs in process in core's ProxyEngineUpstreamErrorTableTest.
 */
class UpstreamErrorHttpTest {
    @RegisterExtension
    static WireMockExtension upstream = Upstream.extension();

    static TomcatProxy proxy;

    @BeforeAll
    static void start() {
        proxy = TomcatProxy.servlet(Upstream.config(upstream).build());
    }

    @AfterAll
    static void stop() {
        proxy.close();
    }

    private static HttpResponse<String> send(
            TomcatProxy target, String method, String path, String body, String... headerPairs) {
        List<String> headers = new ArrayList<>(List.of(headerPairs));
        if (body != null) {
            headers.add("Content-Type");
            headers.add("application/json");
        }
        return Http.call(method, target.uri(path), body, headers.toArray(String[]::new));
    }

    @Test
    void anUpstreamBodyThatBreaksAfterTheHeadersEndsTheResponseInsteadOfHanging() {
        upstream.stubFor(
                any(anyUrl()).willReturn(aResponse().withStatus(200).withFault(Fault.MALFORMED_RESPONSE_CHUNK)));

        // The status may be out already; what must not happen is a client left waiting (Http.send fails the
        // test after its timeout) or a stack trace in whatever body there is.
        Throwable failure = catchThrowable(() -> {
            HttpResponse<String> r = send(proxy, "POST", "/v1/chat/completions", "{\"messages\":[]}");
            assertThat(r.statusCode()).isIn(200, 502);
            assertNoStackTrace(r.body());
        });

        assertThat(failure)
                .satisfiesAnyOf(
                        f -> assertThat(f).isNull(), f -> assertThat(f).isInstanceOf(UncheckedIOException.class));
    }
}
