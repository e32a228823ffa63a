package io.github.openaiproxy.demo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.UncheckedIOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

class DemoUpstreamTest {

    @Test
    void startsOnLoopbackAtAnEphemeralPortAndGivesABaseUrlWithoutV1() {
        try (DemoUpstream upstream = DemoUpstream.start()) {
            int port = upstream.address().getPort();
            assertThat(port).isPositive();
            assertThat(upstream.baseUrl()).hasToString("http://127.0.0.1:" + port);
            assertThat(upstream.tokenPause()).isEqualTo(DemoUpstream.DEFAULT_TOKEN_PAUSE);
        }
    }

    @Test
    void givesLoopbackAsTheBaseUrlOfAWildcardBind() {
        try (DemoUpstream upstream = DemoUpstream.start(new InetSocketAddress(0))) {
            assertThat(upstream.baseUrl().getHost()).isEqualTo("127.0.0.1");
            assertThat(new HttpTestClient(upstream).get("/v1/models").statusCode())
                    .isEqualTo(200);
        }
    }

    @Test
    void runsSeveralInstancesInOneJvm() {
        try (DemoUpstream a = DemoUpstream.start();
                DemoUpstream b = DemoUpstream.start()) {
            assertThat(a.baseUrl()).isNotEqualTo(b.baseUrl());
            assertThat(new HttpTestClient(a).get("/v1/models").statusCode()).isEqualTo(200);
            assertThat(new HttpTestClient(b).get("/v1/models").statusCode()).isEqualTo(200);
        }
    }

    @Test
    void failsWithAClearErrorWhenThePortIsTaken() {
        try (DemoUpstream first = DemoUpstream.start()) {
            assertThatThrownBy(() -> DemoUpstream.start(first.address()))
                    .isInstanceOf(UncheckedIOException.class)
                    .hasMessageContaining("cannot listen");
        }
    }

    @Test
    void closeEndsAnOpenStreamAndStopsListening() throws Exception {
        DemoUpstream upstream =
                DemoUpstream.builder().tokenPause(Duration.ofMillis(500)).start();
        HttpTestClient http = new HttpTestClient(upstream);
        HttpRequest request = http.request("/v1/chat/completions")
                .header("Authorization", HttpTestClient.AUTH)
                .POST(HttpRequest.BodyPublishers.ofString(
                        "{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}"))
                .build();
        CountDownLatch firstEvent = new CountDownLatch(1);
        CompletableFuture<Void> reading = CompletableFuture.runAsync(() -> {
            HttpResponse<Stream<String>> response = http.send(request, HttpResponse.BodyHandlers.ofLines());
            try (Stream<String> lines = response.body()) {
                lines.forEach(line -> firstEvent.countDown());
            } catch (RuntimeException e) {
                // A cut connection is as good an end as a clean one here.
            }
        });
        assertThat(firstEvent.await(5, TimeUnit.SECONDS)).isTrue();

        long started = System.nanoTime();
        upstream.close();
        reading.handle((ok, error) -> null).get(5, TimeUnit.SECONDS);

        assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofSeconds(4));
        assertThatThrownBy(() -> http.get("/v1/models"))
                .isInstanceOf(UncheckedIOException.class)
                .hasCauseInstanceOf(ConnectException.class);
        upstream.close(); // a second close is harmless
    }

    @Test
    void takesItsPortFromTheArgumentThenTheEnvironmentThenTheDefault() {
        assertThat(DemoUpstream.port(new String[] {"9001"}, "9002")).isEqualTo(9001);
        assertThat(DemoUpstream.port(new String[0], "9002")).isEqualTo(9002);
        assertThat(DemoUpstream.port(new String[0], null)).isEqualTo(DemoUpstream.DEFAULT_PORT);
        assertThat(DemoUpstream.port(new String[0], " ")).isEqualTo(8788);
        assertThatThrownBy(() -> DemoUpstream.port(new String[] {"http"}, null))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> DemoUpstream.port(new String[] {"70000"}, null))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void rejectsANegativeTokenPause() {
        assertThatThrownBy(() -> DemoUpstream.builder().tokenPause(Duration.ofMillis(-1)))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
