package io.github.openaiproxy.servlet;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import com.github.tomakehurst.wiremock.stubbing.Scenario;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.testing.Upstream;
import io.github.openaiproxy.servlet.support.Http;
import io.github.openaiproxy.servlet.support.StubUpstream;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Retries and fallbacks over real HTTP, strictly before the first byte: a 429 falls back to the next upstream,
 * a 503 with retry-after-ms is retried after it, a connection failure is retried then falls back, another 4xx
 * is never retried, and a stream that breaks after its first events is not retried either (it ends with the
 * SSE error event). Every answer lists the attempts by upstream name and status.
 */
class UpstreamFallbackHttpTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String CHAT = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

    @RegisterExtension
    static WireMockExtension first = Upstream.extension();

    @RegisterExtension
    static WireMockExtension second = Upstream.extension();

    private TomcatProxy proxy;
    private StubUpstream stub;

    @AfterEach
    void stop() {
        if (proxy != null) {
            proxy.close();
        }
        if (stub != null) {
            stub.close();
        }
    }

    private void start(String firstBaseUrl, String... more) {
        Map<String, String> s = new HashMap<>();
        s.put("upstreams.first.base-url", firstBaseUrl);
        s.put("upstreams.first.keys", "sk-first-0123456789abcdefghijklmnop");
        s.put("upstreams.first.models", "gpt-4o");
        s.put("upstreams.first.fallback", "second");
        s.put("upstreams.second.kind", "compatible");
        s.put("upstreams.second.base-url", second.baseUrl());
        for (int i = 0; i < more.length; i += 2) {
            s.put(more[i], more[i + 1]);
        }
        proxy = TomcatProxy.servlet(ProxySettings.from(s).toConfig());
    }

    private HttpResponse<String> chat() {
        return Http.postJson(proxy.uri("/v1/chat/completions"), CHAT);
    }

    @Test
    void theFirstUpstreamAnswers429AndTheSecondServes() throws Exception {
        start(first.baseUrl());
        first.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .willReturn(aResponse()
                        .withStatus(429)
                        .withHeader("retry-after", "30")
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"error\":{\"message\":\"Rate limit reached\"}}")));
        second.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .willReturn(okJson("{\"model\":\"gpt-4o\",\"choices\":[]}")));

        HttpResponse<String> r = chat();

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("OpenAI-Proxy-Upstream")).contains("second");
        // The only key rests after its 429, so "first" is not tried again before its fallback.
        assertThat(r.headers().firstValue("OpenAI-Proxy-Attempts")).contains("first 429, second 200");
        assertThat(Upstream.requests(first)).hasSize(1);
        assertThat(JSON.readTree(Upstream.onlyRequest(second).getBodyAsString()))
                .isEqualTo(JSON.readTree(CHAT));
    }

    @Test
    void serverTimingGivesTheProxysOwnTimeAndTheUpstreamsTimeToHeadersAndNothingElse() {
        start(first.baseUrl());
        first.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .willReturn(okJson("{\"model\":\"gpt-4o\",\"choices\":[]}").withFixedDelay(150)));

        HttpResponse<String> r = chat();

        assertThat(r.statusCode()).isEqualTo(200);
        String timing = r.headers().firstValue("Server-Timing").orElseThrow();
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("proxy;dur=(\\d+\\.\\d), upstream;dur=(\\d+\\.\\d)")
                .matcher(timing);
        assertThat(m.matches()).as(timing).isTrue();
        assertThat(Double.parseDouble(m.group(2))).isGreaterThanOrEqualTo(150.0);
        assertThat(Double.parseDouble(m.group(1))).isLessThan(Double.parseDouble(m.group(2)));
        assertThat(r.headers().allValues("Server-Timing")).hasSize(1);
    }

    @Test
    void anUpstreamWhoseKeysAllRestCountsAsFailedAndItsFallbackServesWithoutCallingIt() {
        start(first.baseUrl());
        first.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .willReturn(aResponse()
                        .withStatus(429)
                        .withHeader("retry-after", "60")
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"error\":{\"message\":\"Rate limit reached\"}}")));
        second.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .willReturn(okJson("{\"model\":\"gpt-4o\",\"choices\":[]}")));
        assertThat(chat().statusCode()).isEqualTo(200);

        HttpResponse<String> r = chat();

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("OpenAI-Proxy-Attempts")).contains("first no-key, second 200");
        assertThat(Upstream.requests(first)).hasSize(1);
        assertThat(Upstream.requests(second)).hasSize(2);
    }

    @Test
    void a503WithRetryAfterMsIsRetriedAfterThatLong() {
        start(first.baseUrl());
        first.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .inScenario("busy")
                .whenScenarioStateIs(Scenario.STARTED)
                .willReturn(aResponse()
                        .withStatus(503)
                        .withHeader("retry-after-ms", "200")
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"error\":{\"message\":\"busy\"}}"))
                .willSetStateTo("ready"));
        first.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .inScenario("busy")
                .whenScenarioStateIs("ready")
                .willReturn(okJson("{\"model\":\"gpt-4o\",\"choices\":[]}")));

        HttpResponse<String> r = chat();

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("OpenAI-Proxy-Attempts")).contains("first 503, first 200");
        List<LoggedRequest> requests = Upstream.requests(first);
        assertThat(requests).hasSize(2);
        long apart = requests.get(1).getLoggedDate().getTime()
                - requests.get(0).getLoggedDate().getTime();
        assertThat(apart).isGreaterThanOrEqualTo(200);
        Upstream.assertNoCalls(second);
    }

    @Test
    void aConnectionFailureIsRetriedThenTheFallbackServes() {
        start("http://127.0.0.1:" + Upstream.closedPort(), "upstreams.first.retries", "1");
        second.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .willReturn(okJson("{\"model\":\"gpt-4o\",\"choices\":[]}")));

        HttpResponse<String> r = chat();

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("OpenAI-Proxy-Attempts")).contains("first error, first error, second 200");
        assertThat(r.headers().map().toString()).doesNotContain("127.0.0.1");
    }

    @Test
    void aTimeoutBeforeTheHeadersFallsBack() {
        // The 300 ms response-timeout ends the first call; the fallback has a timeout of its own, wide enough for its
        // first call on a busy machine (under response-timeout's 300 ms it took up to half of it).
        start(
                first.baseUrl(),
                "response-timeout",
                "300ms",
                "upstreams.first.retries",
                "0",
                "upstreams.second.timeout",
                "10s");
        first.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .willReturn(okJson("{\"choices\":[]}").withFixedDelay(3000)));
        second.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .willReturn(okJson("{\"model\":\"gpt-4o\",\"choices\":[]}")));

        HttpResponse<String> r = chat();

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("OpenAI-Proxy-Attempts")).contains("first timeout, second 200");
    }

    @Test
    void aWaitPastTheDeadlineIsNotWaitedTheFallbackGoesAtOnce() {
        start(first.baseUrl(), "upstreams.first.retry-deadline", "1s");
        first.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .willReturn(aResponse()
                        .withStatus(503)
                        .withHeader("retry-after", "5")
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"error\":{\"message\":\"busy\"}}")));
        second.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .willReturn(okJson("{\"model\":\"gpt-4o\",\"choices\":[]}")));

        HttpResponse<String> r = chat();

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("OpenAI-Proxy-Attempts")).contains("first 503, second 200");
        assertThat(Upstream.requests(first)).hasSize(1);
    }

    @Test
    void anotherClientErrorIsNeverRetriedNorFallenBackFrom() {
        start(first.baseUrl());
        first.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .willReturn(aResponse()
                        .withStatus(400)
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"error\":{\"message\":\"bad request\",\"code\":\"context_length_exceeded\"}}")));

        HttpResponse<String> r = chat();

        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(r.headers().firstValue("OpenAI-Proxy-Attempts")).contains("first 400");
        assertThat(Upstream.requests(first)).hasSize(1);
        Upstream.assertNoCalls(second);
    }

    @Test
    void whenEveryPlaceFailsTheLastAnswerIsRelayed() {
        start(first.baseUrl(), "upstreams.first.retries", "0", "upstreams.second.retries", "0");
        first.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .willReturn(aResponse().withStatus(502)));
        second.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .willReturn(aResponse()
                        .withStatus(503)
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"error\":{\"message\":\"down\"}}")));

        HttpResponse<String> r = chat();

        assertThat(r.statusCode()).isEqualTo(503);
        assertThat(r.headers().firstValue("OpenAI-Proxy-Attempts")).contains("first 502, second 503");
        assertThat(r.headers().firstValue("OpenAI-Proxy-Upstream")).contains("second");
    }

    @Test
    void aStreamThatBreaksAfterTwoEventsIsNotRetriedAndEndsWithAnErrorEvent() throws Exception {
        CountDownLatch clientHasTwo = new CountDownLatch(1);
        java.util.concurrent.atomic.AtomicInteger calls = new java.util.concurrent.atomic.AtomicInteger();
        stub = StubUpstream.start(ex -> {
            calls.incrementAndGet();
            ex.head(200, "Content-Type", "text/event-stream");
            ex.chunk("data: {\"id\":\"c1\",\"model\":\"gpt-4o\",\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n");
            ex.chunk("data: {\"id\":\"c1\",\"model\":\"gpt-4o\",\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\n");
            if (!clientHasTwo.await(30, TimeUnit.SECONDS)) {
                throw new AssertionError("the client did not receive the first two events");
            }
            ex.chunk("data: {\"id\":\"c1"); // half an event, never completed
            ex.reset();
        });
        start(stub.baseUrl().toString());

        HttpResponse<InputStream> r = Http.send(
                HttpRequest.newBuilder(proxy.uri("/v1/chat/completions"))
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(
                                CHAT.replace("\"messages\"", "\"stream\":true,\"messages\"")))
                        .build(),
                HttpResponse.BodyHandlers.ofInputStream());

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("OpenAI-Proxy-Attempts")).contains("first 200");
        List<String> events = new ArrayList<>();
        try (InputStream in = r.body()) {
            events.add(readEvent(in));
            events.add(readEvent(in));
            clientHasTwo.countDown();
            for (String e = readEvent(in); e != null; e = readEvent(in)) {
                events.add(e);
            }
        }
        assertThat(events).hasSize(3);
        assertThat(events.get(2)).startsWith("data: {\"error\":").contains("upstream_disconnected");
        assertThat(calls).as("calls to the stream's upstream").hasValue(1);
        Upstream.assertNoCalls(second);
    }

    /** One SSE event, up to and including its blank line; {@code null} at the end of the stream. */
    private static String readEvent(InputStream in) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int c;
        while ((c = in.read()) != -1) {
            out.write(c);
            byte[] b = out.toByteArray();
            int n = b.length;
            if (n >= 2 && b[n - 1] == '\n' && b[n - 2] == '\n') {
                return out.toString(StandardCharsets.UTF_8);
            }
        }
        return out.size() == 0 ? null : out.toString(StandardCharsets.UTF_8);
    }
}
