package io.github.openaiproxy.spring.web;

import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.WireMockServer;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * {@code openai.proxy.max-upload-size} in a Spring Boot application, the proxy at {@code /} (a filter in front of the
 * application's DispatcherServlet, which has Boot's multipart settings): a 12 MB multipart upload streams through to
 * the upstream whole with {@code max-body-size} at its 10 MB, while a 12 MB JSON chat body is refused 413.
 */
@SpringBootTest(
        classes = HostApplication.class,
        webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = {
            "openai.proxy.api-key=" + Upstream.KEY,
            "openai.proxy.max-upload-size=32MB",
            "openai.proxy.pass-through-routes=POST /v1/chat/completions, POST /v1/files"
        })
class UploadSizeIntegrationTests {
    static final int TWELVE_MB = 12 * 1024 * 1024;
    static final WireMockServer upstream = Upstream.start();

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

    HttpResponse<String> postBody(String path, String type, byte[] body) throws Exception {
        return http.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                        .header("Content-Type", type)
                        .POST(HttpRequest.BodyPublishers.ofByteArray(body))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void aTwelveMegabyteUploadReachesTheUpstreamWhole() throws Exception {
        upstream.stubFor(post("/v1/files").willReturn(okJson("{\"id\":\"file-1\",\"object\":\"file\"}")));
        byte[] head = ("--b\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n--b\r\n"
                        + "Content-Disposition: form-data; name=\"file\"; filename=\"big.jsonl\"\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII);
        byte[] tail = "\r\n--b--\r\n".getBytes(StandardCharsets.US_ASCII);
        byte[] body = new byte[TWELVE_MB];
        Arrays.fill(body, (byte) 'z');
        System.arraycopy(head, 0, body, 0, head.length);
        System.arraycopy(tail, 0, body, body.length - tail.length, tail.length);

        HttpResponse<String> r = postBody("/v1/files", "multipart/form-data; boundary=b", body);

        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        List<LoggedRequest> sent = upstream.findAll(postRequestedFor(urlEqualTo("/v1/files")));
        assertThat(sent).singleElement().satisfies(s -> assertThat(s.getBody()).isEqualTo(body));
    }

    @Test
    void aTwelveMegabyteJsonChatBodyIsRefused413() throws Exception {
        byte[] body = new byte[TWELVE_MB];
        Arrays.fill(body, (byte) ' ');
        byte[] json = "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
                .getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(json, 0, body, 0, json.length);

        HttpResponse<String> r = postBody("/v1/chat/completions", "application/json", body);

        assertThat(r.statusCode()).as(r.body()).isEqualTo(413);
        assertThat(r.body()).contains("request_too_large").contains("10485760");
        assertThat(upstream.findAll(postRequestedFor(urlEqualTo("/v1/chat/completions"))))
                .isEmpty();
    }
}
