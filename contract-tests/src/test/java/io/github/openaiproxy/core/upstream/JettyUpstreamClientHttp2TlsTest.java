package io.github.openaiproxy.core.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.testsupport.BodyReader;
import io.github.openaiproxy.testsupport.H2cUpstream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.net.http.HttpHeaders;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@code upstream-http-version=2} with Jetty's client against an {@code https} upstream: h2 where the server offers
 * it by ALPN, HTTP/1.1 where it offers only that, and completions and streams either way. The proxy's own client
 * trusts what the JDK trusts, so the test's certificate is put in the JDK's trust store for the class.
 */
class JettyUpstreamClientHttp2TlsTest {
    private static final String PASSWORD = "changeit";
    private static final List<String> TRUST_PROPERTIES =
            List.of("javax.net.ssl.trustStore", "javax.net.ssl.trustStorePassword", "javax.net.ssl.trustStoreType");

    private static Path dir;
    private static Path keyStore;
    private static final Map<String, String> saved = new java.util.HashMap<>();

    @BeforeAll
    static void certificate() throws Exception {
        dir = Files.createTempDirectory("h2-tls");
        keyStore = dir.resolve("server.p12");
        Process keytool = new ProcessBuilder(
                        Path.of(System.getProperty("java.home"), "bin", "keytool")
                                .toString(),
                        "-genkeypair",
                        "-alias",
                        "upstream",
                        "-keyalg",
                        "EC",
                        "-groupname",
                        "secp256r1",
                        "-dname",
                        "CN=127.0.0.1",
                        "-ext",
                        "san=ip:127.0.0.1",
                        "-validity",
                        "2",
                        "-storetype",
                        "PKCS12",
                        "-keystore",
                        keyStore.toString(),
                        "-storepass",
                        PASSWORD,
                        "-keypass",
                        PASSWORD)
                .redirectErrorStream(true)
                .start();
        String out = new String(keytool.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(keytool.waitFor(60, TimeUnit.SECONDS)).as(out).isTrue();
        assertThat(keytool.exitValue()).as(out).isZero();
        KeyStore server = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(keyStore)) {
            server.load(in, PASSWORD.toCharArray());
        }
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        trust.setCertificateEntry("upstream", server.getCertificate("upstream"));
        Path trustStore = dir.resolve("trust.p12");
        try (OutputStream o = Files.newOutputStream(trustStore)) {
            trust.store(o, PASSWORD.toCharArray());
        }
        TRUST_PROPERTIES.forEach(p -> saved.put(p, System.getProperty(p)));
        System.setProperty("javax.net.ssl.trustStore", trustStore.toString());
        System.setProperty("javax.net.ssl.trustStorePassword", PASSWORD);
        System.setProperty("javax.net.ssl.trustStoreType", "PKCS12");
    }

    @AfterAll
    static void restore() throws Exception {
        saved.forEach((p, v) -> {
            if (v == null) {
                System.clearProperty(p);
            } else {
                System.setProperty(p, v);
            }
        });
        try (var files = Files.list(dir)) {
            for (Path f : files.toList()) {
                Files.delete(f);
            }
        }
        Files.delete(dir);
    }

    private static UpstreamRequest post(URI base, String pathAndQuery, String body) {
        HttpHeaders headers = HttpHeaders.of(
                Map.of("authorization", List.of("Bearer sk-test"), "content-type", List.of("application/json")),
                (n, v) -> true);
        return new UpstreamRequest(
                "POST", URI.create(base + pathAndQuery), headers, body.getBytes(StandardCharsets.UTF_8));
    }

    @ParameterizedTest(name = "server offers h2: {0}")
    @CsvSource({"true, HTTP/2.0", "false, HTTP/1.1"})
    void completionsAndStreamsGoOverWhatTheServerOffers(boolean offerH2, String protocol) throws Exception {
        try (H2cUpstream upstream = H2cUpstream.tls(new H2cUpstream.Tls(keyStore, PASSWORD, offerH2));
                UpstreamClient client = UpstreamClient.jetty(UpstreamConfig.defaults()
                        .withBaseUrl(upstream.baseUrl())
                        .withHttpVersion(UpstreamConfig.HttpVersion.HTTP_2))) {
            UpstreamResponse answer = client.send(post(upstream.baseUrl(), "/v1/chat/completions", "{}"))
                    .get(20, TimeUnit.SECONDS);
            assertThat(answer.status()).isEqualTo(200);
            assertThat(BodyReader.read(answer.body()).text()).isEqualTo(H2cUpstream.COMPLETION);

            String stream = client.send(post(upstream.baseUrl(), "/v1/chat/completions?events=3", "{\"stream\":true}"))
                    .thenCompose(r -> BodyReader.collect(r.body()))
                    .get(20, TimeUnit.SECONDS)
                    .text();
            assertThat(stream)
                    .isEqualTo(H2cUpstream.chunk(0) + H2cUpstream.chunk(1) + H2cUpstream.chunk(2) + "data: [DONE]\n\n");

            assertThat(upstream.seen())
                    .hasSize(2)
                    .allSatisfy(s -> assertThat(s.protocol()).isEqualTo(protocol));
        }
    }

    /**
     * A TLS upstream that offers only HTTP/1.1 takes one call per connection: calls at once open connections of
     * their own instead of being sent down one (HTTP/1.1 cannot carry two at a time, and Jetty refuses to try).
     */
    @Test
    void callsAtOnceToAnHttp11OnlyServerEachGetAConnection() throws Exception {
        try (H2cUpstream upstream = H2cUpstream.tls(new H2cUpstream.Tls(keyStore, PASSWORD, false));
                UpstreamClient client = UpstreamClient.jetty(UpstreamConfig.defaults()
                        .withBaseUrl(upstream.baseUrl())
                        .withHttpVersion(UpstreamConfig.HttpVersion.HTTP_2))) {
            List<java.util.concurrent.CompletableFuture<String>> calls = new java.util.ArrayList<>();
            for (int i = 0; i < 12; i++) {
                calls.add(client.send(post(
                                upstream.baseUrl(), "/v1/chat/completions?events=3&pause_ms=100", "{\"stream\":true}"))
                        .thenCompose(r -> BodyReader.collect(r.body()))
                        .thenApply(BodyReader.Body::text));
            }
            String whole = H2cUpstream.chunk(0) + H2cUpstream.chunk(1) + H2cUpstream.chunk(2) + "data: [DONE]\n\n";
            for (var call : calls) {
                assertThat(call.get(20, TimeUnit.SECONDS)).isEqualTo(whole);
            }
            assertThat(upstream.seen())
                    .hasSize(12)
                    .allSatisfy(s -> assertThat(s.protocol()).isEqualTo("HTTP/1.1"));
        }
    }
}
