package io.github.openaiproxy.examples.standalone;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Who can reach the standalone server: it binds loopback unless {@code HOST} says otherwise, on loopback
 * it answers only loopback host names (DNS rebinding), and a start on another address with a real key
 * says loudly that anyone who reaches it spends the key.
 */
class StandaloneExposureTest {
    static final String CHAT = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    static final String KEY = "sk-test-exposure-0123456789";

    final Logger serverLog = Logger.getLogger(StandaloneServer.class.getName());
    final List<LogRecord> logged = new CopyOnWriteArrayList<>();
    final Handler capture = new Handler() {
        @Override
        public void publish(LogRecord record) {
            logged.add(record);
        }

        @Override
        public void flush() {}

        @Override
        public void close() {}
    };

    @BeforeEach
    void captureLog() {
        serverLog.addHandler(capture);
    }

    @AfterEach
    void releaseLog() {
        serverLog.removeHandler(capture);
    }

    @Test
    void withoutHostItListensOnLoopbackOnly() throws Exception {
        Optional<InetAddress> lan = nonLoopbackAddress();
        StandaloneOptions defaults = StandaloneOptions.parse(new String[] {"--demo"}, Map.of("PORT", "0"));
        try (StandaloneServer server =
                StandaloneServer.start(defaults, Map.of("OPENAI_PROXY_SESSIONS_STORE", "memory"))) {
            assertThat(post(server.port(), "127.0.0.1:" + server.port())).startsWith("HTTP/1.1 200");

            Assumptions.assumeTrue(lan.isPresent(), "this machine has no address but loopback to try");
            assertThatThrownBy(() -> {
                        try (Socket s = new Socket()) {
                            s.connect(new InetSocketAddress(lan.get(), server.port()), 5_000);
                        }
                    })
                    .as("connecting on %s", lan.get())
                    .isInstanceOf(ConnectException.class);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"localhost", "127.0.0.1", "[::1]", "LOCALHOST"})
    void onLoopbackTheLoopbackNamesAreAnswered(String name) throws Exception {
        try (StandaloneServer server = demoOn("127.0.0.1", Map.of())) {
            assertThat(post(server.port(), name + ":" + server.port())).startsWith("HTTP/1.1 200");
            assertThat(post(server.port(), name)).startsWith("HTTP/1.1 200");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"rebind.attacker.example", "192.0.2.7", "localhost.attacker.example", "[::2]"})
    void onLoopbackAnotherHostNameIsRefused(String name) throws Exception {
        // A page on the attacker's domain, its DNS name re-pointed at 127.0.0.1: same-origin, so CORS
        // does not apply; only the Host name tells it apart.
        try (StandaloneServer server = demoOn("127.0.0.1", Map.of())) {
            String answer =
                    post(server.port(), name + ":" + server.port(), "Origin: http://" + name + ":" + server.port());
            assertThat(answer)
                    .startsWith("HTTP/1.1 403")
                    .contains("Host is not one this proxy answers to")
                    .doesNotContain("[demo]");
        }
    }

    @Test
    void onAnotherLoopbackAddressThatAddressIsAnsweredToo() throws Exception {
        try (StandaloneServer server = demoOn("127.0.0.2", Map.of())) {
            assertThat(postTo("127.0.0.2", server.port(), "127.0.0.2:" + server.port()))
                    .startsWith("HTTP/1.1 200");
            assertThat(server.config().allowedHosts().allowsAny()).isFalse();
        }
    }

    @Test
    void configuredAllowedHostsAreKeptOnLoopback() throws Exception {
        try (StandaloneServer server = demoOn("127.0.0.1", Map.of("OPENAI_PROXY_ALLOWED_HOSTS", "*"))) {
            assertThat(server.config().allowedHosts().allowsAny()).isTrue();
            assertThat(post(server.port(), "proxy.internal.example")).startsWith("HTTP/1.1 200");
        }
    }

    @Test
    void aNonLoopbackBindWithARealKeyAndNothingRestrictingCallersWarnsLoudly() throws Exception {
        try (StandaloneServer server = StandaloneServer.start(
                new StandaloneOptions(0, "0.0.0.0", false),
                Map.of(
                        "OPENAI_API_KEY", KEY,
                        "OPENAI_BASE_URL", "http://127.0.0.1:9",
                        "OPENAI_PROXY_SESSIONS_STORE", "memory"))) {
            // Library default off loopback: the server does not guess its public names.
            assertThat(server.config().allowedHosts().allowsAny()).isTrue();
        }
        String warning = warnings();
        assertThat(warning)
                .contains("WARNING: openai-proxy listens on 0.0.0.0")
                .contains("HOST=127.0.0.1")
                .contains("OPENAI_PROXY_ALLOWED_HOSTS=")
                .contains("OPENAI_PROXY_ALLOW_CLIENT_KEY=true")
                .doesNotContain(KEY);
    }

    @Test
    void aNamedUpstreamsKeysWarnAsTheServerKeyDoes() throws Exception {
        // No OPENAI_API_KEY, but the proxy still spends a key of its own for anyone who calls.
        try (StandaloneServer server = StandaloneServer.start(
                new StandaloneOptions(0, "0.0.0.0", false),
                Map.of(
                        "OPENAI_PROXY_UPSTREAMS_MAIN_KIND", "compatible",
                        "OPENAI_PROXY_UPSTREAMS_MAIN_BASE_URL", "http://127.0.0.1:9/v1",
                        "OPENAI_PROXY_UPSTREAMS_MAIN_KEYS", KEY,
                        "OPENAI_PROXY_UPSTREAMS_MAIN_MODELS", "*",
                        "OPENAI_PROXY_SESSIONS_STORE", "memory"))) {
            assertThat(server.port()).isPositive();
        }
        assertThat(warnings())
                .contains("WARNING: openai-proxy listens on 0.0.0.0")
                .doesNotContain("No OPENAI_API_KEY set")
                .doesNotContain(KEY);
        assertThat(StandaloneOptions.parse(
                                new String[] {"--demo-if-no-key"}, Map.of("OPENAI_PROXY_UPSTREAMS_MAIN_KEYS", KEY))
                        .demo())
                .as("no demo mode beside real keys")
                .isFalse();
    }

    @Test
    void noWarningOnLoopbackInDemoModeOrWithoutAServerKey() throws Exception {
        try (StandaloneServer server = StandaloneServer.start(
                new StandaloneOptions(0, "127.0.0.1", false),
                Map.of("OPENAI_API_KEY", KEY, "OPENAI_PROXY_SESSIONS_STORE", "memory"))) {
            assertThat(server.port()).isPositive();
        }
        try (StandaloneServer server = demoOn("0.0.0.0", Map.of())) {
            assertThat(server.port()).isPositive();
        }
        try (StandaloneServer server = StandaloneServer.start(
                new StandaloneOptions(0, "0.0.0.0", false),
                Map.of("OPENAI_PROXY_ALLOW_CLIENT_KEY", "true", "OPENAI_PROXY_SESSIONS_STORE", "memory"))) {
            assertThat(server.port()).isPositive();
        }
        assertThat(warnings()).doesNotContain("listens on");
    }

    @Test
    void withAllowedHostsOffLoopbackOneLineStillSaysCallersAreNotRestricted() throws Exception {
        try (StandaloneServer server = StandaloneServer.start(
                new StandaloneOptions(0, "0.0.0.0", false),
                Map.of(
                        "OPENAI_API_KEY", KEY,
                        "OPENAI_PROXY_ALLOWED_HOSTS", "proxy.example.com",
                        "OPENAI_PROXY_SESSIONS_STORE", "memory"))) {
            assertThat(server.config().allowedHosts().entries()).containsExactly("proxy.example.com");
        }
        assertThat(warnings())
                .contains("stops DNS rebinding, not other callers")
                .doesNotContain("WARNING: ");
    }

    private StandaloneServer demoOn(String host, Map<String, String> env) throws Exception {
        Map<String, String> all = new java.util.HashMap<>(env);
        all.put("OPENAI_PROXY_SESSIONS_STORE", "memory");
        return StandaloneServer.start(new StandaloneOptions(0, host, true), all);
    }

    private String warnings() {
        StringBuilder b = new StringBuilder();
        for (LogRecord r : logged) {
            if (r.getLevel().intValue() >= Level.WARNING.intValue()) {
                b.append(r.getMessage()).append('\n');
            }
        }
        return b.toString();
    }

    /** POST / over a raw socket with the given {@code Host} (the JDK client does not let a test set it). */
    private static String post(int port, String host, String... headers) throws IOException {
        return postTo("127.0.0.1", port, host, headers);
    }

    private static String postTo(String address, int port, String host, String... headers) throws IOException {
        byte[] body = CHAT.getBytes(StandardCharsets.UTF_8);
        StringBuilder head = new StringBuilder("POST / HTTP/1.1\r\nHost: " + host + "\r\n");
        for (String h : headers) {
            head.append(h).append("\r\n");
        }
        head.append("Content-Type: application/json\r\nContent-Length: ")
                .append(body.length)
                .append("\r\nConnection: close\r\n\r\n");
        try (Socket s = new Socket(address, port)) {
            s.setSoTimeout(30_000);
            OutputStream out = s.getOutputStream();
            out.write(head.toString().getBytes(StandardCharsets.ISO_8859_1));
            out.write(body);
            out.flush();
            InputStream in = s.getInputStream();
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    private static Optional<InetAddress> nonLoopbackAddress() throws SocketException {
        for (NetworkInterface n : java.util.Collections.list(NetworkInterface.getNetworkInterfaces())) {
            if (!n.isUp() || n.isLoopback()) {
                continue;
            }
            for (InetAddress a : java.util.Collections.list(n.getInetAddresses())) {
                if (a instanceof Inet4Address && !a.isLoopbackAddress() && !a.isLinkLocalAddress()) {
                    return Optional.of(a);
                }
            }
        }
        return Optional.empty();
    }
}
