package io.github.openaiproxy.spring.web;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.equalTo;
import static com.github.tomakehurst.wiremock.client.WireMock.matchingJsonPath;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.WireMockServer;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.boot.web.servlet.FilterRegistrationBean;
import org.springframework.context.annotation.Bean;
import org.springframework.core.Ordered;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.web.filter.OncePerRequestFilter;
import org.springframework.web.filter.ShallowEtagHeaderFilter;
import org.springframework.web.util.ContentCachingResponseWrapper;

/**
 * A host application with filters in front of the proxy that buffer responses: Spring's {@link
 * ShallowEtagHeaderFilter}, which hashes a response and writes the buffer only when a request ends synchronously, and
 * a response-logging filter that wraps the response in a {@link ContentCachingResponseWrapper} and copies the body
 * when the chain returns. An answer the proxy writes asynchronously would reach the client empty, a stream only once it
 * ended.
 */
@SpringBootTest(
        classes = HostResponseBufferingIntegrationTests.EtagApplication.class,
        webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = {"openai.proxy.path=/ai", "openai.proxy.api-key=" + Upstream.KEY})
class HostResponseBufferingIntegrationTests {
    static final WireMockServer upstream = Upstream.start();

    static {
        // The events over 3 s, in 3 pieces: the first event is whole in the first piece.
        upstream.stubFor(post("/v1/chat/completions")
                .withRequestBody(matchingJsonPath("$.stream", equalTo("true")))
                .atPriority(1)
                .willReturn(aResponse()
                        .withHeader("Content-Type", "text/event-stream")
                        .withBody(Upstream.STREAM)
                        .withChunkedDribbleDelay(3, 3000)));
    }

    @LocalServerPort
    int port;

    final HttpClient http = HttpClient.newHttpClient();

    @DynamicPropertySource
    static void upstream(DynamicPropertyRegistry registry) {
        registry.add("openai.proxy.base-url", () -> "http://127.0.0.1:" + upstream.port());
    }

    @AfterAll
    static void stopUpstream() {
        upstream.stop();
    }

    @SpringBootConfiguration
    @EnableAutoConfiguration
    static class EtagApplication {
        @Bean
        FilterRegistrationBean<ShallowEtagHeaderFilter> etagFilter() {
            FilterRegistrationBean<ShallowEtagHeaderFilter> r =
                    new FilterRegistrationBean<>(new ShallowEtagHeaderFilter());
            r.setOrder(Ordered.HIGHEST_PRECEDENCE + 10); // before the proxy, as a host's filters are
            return r;
        }

        @Bean
        FilterRegistrationBean<OncePerRequestFilter> responseLoggingFilter() {
            FilterRegistrationBean<OncePerRequestFilter> r = new FilterRegistrationBean<>(new OncePerRequestFilter() {
                @Override
                protected void doFilterInternal(
                        HttpServletRequest request, HttpServletResponse response, FilterChain chain)
                        throws ServletException, IOException {
                    ContentCachingResponseWrapper logged = new ContentCachingResponseWrapper(response);
                    try {
                        chain.doFilter(request, logged);
                    } finally {
                        logged.copyBodyToResponse(); // the usual pattern, after logging the body
                    }
                }
            });
            r.setOrder(Ordered.HIGHEST_PRECEDENCE + 20);
            return r;
        }
    }

    private HttpResponse<InputStream> send(String path, String body) throws Exception {
        return http.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(body))
                        .build(),
                HttpResponse.BodyHandlers.ofInputStream());
    }

    @Test
    void aStreamsFirstEventArrivesBeforeItsEnd() throws Exception {
        long start = System.nanoTime();
        HttpResponse<InputStream> r = send(
                "/ai/v1/chat/completions",
                "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
        try (InputStream in = r.body()) {
            int first = in.read();
            long firstAt = System.nanoTime();
            String rest = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            long endAt = System.nanoTime();

            assertThat(r.statusCode()).isEqualTo(200);
            assertThat(first).as("the stream's first byte").isEqualTo('d');
            assertThat(rest).contains("\"content\":\"stream\"").endsWith("data: [DONE]\n\n");
            assertThat((endAt - firstAt) / 1_000_000)
                    .as("ms from the first event to the end (first at %d ms)", (firstAt - start) / 1_000_000)
                    .isGreaterThan(1000);
        }
    }

    @Test
    void aJsonAnswerAndTheProxysOwnErrorKeepTheirBodies() throws Exception {
        HttpResponse<InputStream> ok = send(
                "/ai/v1/chat/completions",
                "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
        String okBody = new String(ok.body().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(ok.statusCode()).isEqualTo(200);
        assertThat(okBody).contains("Hello from the upstream");

        HttpResponse<InputStream> notFound = send("/ai/v1/nope", "{}");
        String errorBody = new String(notFound.body().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(notFound.statusCode()).isEqualTo(404);
        assertThat(errorBody).contains("\"error\"").contains("\"message\"");
    }
}
