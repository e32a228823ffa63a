package io.github.openaiproxy.servlet;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.anyRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.wireMockConfig;
import static io.github.openaiproxy.servlet.support.RawAssertions.assertOpenAiError;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import com.github.tomakehurst.wiremock.stubbing.Scenario;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.servlet.support.ProxyServer;
import io.github.openaiproxy.servlet.support.RawHttp;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * With named upstreams routing {@code whisper-*} elsewhere than the default, a multipart upload whose file comes before
 * its {@code model} field (openai-java's order, {@code curl -F file=@a.mp3 -F model=...}) is read on to the model, what
 * is past its first 64 KiB spooled to a file in {@code upload-spool-dir}, and routed by that model, byte for byte.
 * The spool file is gone once each call ends, however it ends.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class MultipartSpoolHttpTest {
    private static final String B = UploadSizeLimitHttpTest.BOUNDARY;
    private static final String TYPE = "multipart/form-data; boundary=" + B;
    private static final String KEY = "sk-named-default-0123456789abcdefghij";
    private static final String PATH = "/v1/audio/transcriptions";

    @RegisterExtension
    static WireMockExtension openai = WireMockExtension.newInstance()
            .options(wireMockConfig().dynamicPort().bindAddress("127.0.0.1"))
            .build();

    @RegisterExtension
    static WireMockExtension speech = WireMockExtension.newInstance()
            .options(wireMockConfig().dynamicPort().bindAddress("127.0.0.1"))
            .build();

    @TempDir
    Path spoolDir;

    private ProxyServer proxy;

    @BeforeEach
    void answer() {
        for (WireMockExtension u : List.of(openai, speech)) {
            u.stubFor(post(urlPathEqualTo(PATH))
                    .willReturn(aResponse()
                            .withStatus(200)
                            .withHeader("Content-Type", "application/json")
                            .withBody("{\"text\":\"done\"}")));
        }
    }

    @AfterEach
    void stop() throws Exception {
        if (proxy != null) {
            proxy.close();
        }
        assertThat(spoolFilesEventually(0))
                .as("no spool file left after the call")
                .isEmpty();
    }

    private void start(String... more) {
        startIn("tomcat", more);
    }

    private void startIn(String container, String... more) {
        Map<String, String> s = new HashMap<>();
        s.put("upstreams.openai.base-url", openai.baseUrl());
        s.put("upstreams.openai.keys", KEY);
        s.put("upstreams.speech.kind", "compatible");
        s.put("upstreams.speech.base-url", speech.baseUrl());
        s.put("upstreams.speech.models", "whisper-*");
        s.put("upstream-client", "JDK");
        s.put("upload-spool-dir", spoolDir.toString());
        s.put("pass-through-routes", UploadSizeLimitHttpTest.ROUTES);
        for (int i = 0; i < more.length; i += 2) {
            s.put(more[i], more[i + 1]);
        }
        io.github.openaiproxy.core.ProxyConfig config = ProxySettings.from(s).toConfig();
        proxy = container.equals("tomcat")
                ? TomcatProxy.servlet(config)
                : io.github.openaiproxy.servlet.support.JettyProxy.servlet(config, "/*");
    }

    private List<Path> spoolFiles() {
        try (Stream<Path> files = Files.list(spoolDir)) {
            return files.toList();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The spool files once there are {@code count} (or at least one, for {@code count} 1), waiting up to 10 s. */
    private List<Path> spoolFilesEventually(int count) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        List<Path> files = spoolFiles();
        while ((count == 0 ? !files.isEmpty() : files.size() < count) && System.nanoTime() < deadline) {
            Thread.sleep(20);
            files = spoolFiles();
        }
        return files;
    }

    private static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }

    private static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    private static byte[] random(int size, long seed) {
        byte[] out = new byte[size];
        new Random(seed).nextBytes(out);
        return out;
    }

    private static byte[] field(String name, String value) {
        return ascii("--" + B + "\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + value + "\r\n");
    }

    private static byte[] fileHead(String filename) {
        return ascii("--" + B + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" + filename + "\"\r\n"
                + "Content-Type: audio/mpeg\r\n\r\n");
    }

    /** curl's {@code -F file=@a.mp3 -F model=...}: the file, then the model. */
    private static byte[] fileFirst(byte[] audio, String model) {
        return concat(fileHead("a.mp3"), audio, ascii("\r\n"), field("model", model), end());
    }

    private static byte[] end() {
        return ascii("--" + B + "--\r\n");
    }

    private static String head(boolean declared, long length) {
        return "POST " + PATH + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + TYPE + "\r\n"
                + (declared ? "Content-Length: " + length : "Transfer-Encoding: chunked") + "\r\n\r\n";
    }

    private RawHttp.Response upload(byte[] body, boolean declared) {
        try (RawHttp c = RawHttp.connect(proxy.port())) {
            c.write(head(declared, body.length));
            c.write(declared ? body : RawHttp.chunked(body, 16 * 1024));
            return c.readResponse();
        }
    }

    private static List<LoggedRequest> calls(WireMockExtension u) {
        return u.findAll(anyRequestedFor(anyUrl()));
    }

    /** curl's order, with a Content-Length and chunked without one: routed by the model after the file. */
    @ParameterizedTest(name = "{0} client")
    @ValueSource(strings = {"JDK", "JETTY"})
    void aFileFirstUploadIsRoutedByTheModelAfterItByteForByte(String client) {
        start("upstream-client", client);
        byte[] body = fileFirst(random(1024 * 1024, 1), "whisper-large-v3");

        RawHttp.Response declared = upload(body, true);
        RawHttp.Response chunked = upload(body, false);

        for (RawHttp.Response r : List.of(declared, chunked)) {
            assertThat(r.status()).as(r.bodyText()).isEqualTo(200);
            assertThat(r.header("OpenAI-Proxy-Upstream")).contains("speech");
        }
        assertThat(calls(openai)).isEmpty();
        assertThat(calls(speech)).hasSize(2).allSatisfy(c -> {
            assertThat(c.getBody()).as("the upload, byte for byte").isEqualTo(body);
            assertThat(c.getHeader("Content-Type")).isEqualTo(TYPE);
        });
        assertThat(calls(speech).stream().map(c -> c.getHeader("Content-Length")))
                .contains(Integer.toString(body.length));
    }

    /** The same on Jetty's container, chunked: routed by the model after the file, byte for byte. */
    @Test
    void onJettyAChunkedFileFirstUploadIsRoutedByItsModel() {
        startIn("jetty");
        byte[] body = fileFirst(random(700 * 1024, 30), "whisper-large-v3");

        RawHttp.Response r = upload(body, false);

        assertThat(r.status()).as(r.bodyText()).isEqualTo(200);
        assertThat(r.header("OpenAI-Proxy-Upstream")).contains("speech");
        assertThat(calls(speech))
                .singleElement()
                .satisfies(c -> assertThat(c.getBody()).isEqualTo(body));
        assertThat(calls(openai)).isEmpty();
    }

    /**
     * A quota refuses a spooled upload after its model was read (the limits run after routing): the client reads a
     * clean 429 on either container, the spool file is deleted, and the upstream is called once, for the first.
     */
    @ParameterizedTest
    @ValueSource(strings = {"tomcat", "jetty"})
    void aSpooledUploadRefusedAfterRoutingIs429AndLeavesNoFile(String container) {
        startIn(container, "policies.anonymous.requests-per-minute", "1");
        byte[] body = fileFirst(random(1024 * 1024, 40), "whisper-large-v3");

        RawHttp.Response first = upload(body, true);
        RawHttp.Response refused = upload(body, true);

        assertThat(first.status()).as(first.bodyText()).isEqualTo(200);
        assertOpenAiError(refused, 429, "requests", "rate_limit_exceeded");
        assertThat(calls(speech)).hasSize(1);
        assertThat(calls(openai)).isEmpty();
    }

    /** An alias renames the model found after the file, in the spooled bytes; the Content-Length follows. */
    @Test
    void anAliasRenamesTheModelFoundAfterTheFile() {
        start("upstreams.speech.aliases", "whisper-1=whisper-large-v3");
        byte[] audio = random(512 * 1024, 2);
        byte[] body = fileFirst(audio, "whisper-1");
        byte[] renamed = fileFirst(audio, "whisper-large-v3");

        RawHttp.Response r = upload(body, true);

        assertThat(r.status()).as(r.bodyText()).isEqualTo(200);
        assertThat(calls(speech)).singleElement().satisfies(c -> {
            assertThat(c.getBody()).isEqualTo(renamed);
            assertThat(c.getHeader("Content-Length")).isEqualTo(Integer.toString(renamed.length));
        });
        assertThat(calls(openai)).isEmpty();
    }

    /**
     * A client that leaves while its file is spooled: the spool file (owner-only, named by the proxy, never by the
     * part's file name) is deleted and no upstream is called.
     */
    @ParameterizedTest
    @ValueSource(strings = {"tomcat", "jetty"})
    void aClientLeavingMidSpoolLeavesNoFileAndCallsNoUpstream(String container) throws Exception {
        startIn(container);
        byte[] start = concat(fileHead("../escape.mp3"), random(1024 * 1024, 3));

        try (RawHttp c = RawHttp.connect(proxy.port())) {
            c.write(head(true, 8L * 1024 * 1024));
            c.write(start);
            List<Path> spooled = spoolFilesEventually(1);
            assertThat(spooled).as("the file past 64 KiB is spooled").hasSize(1);
            assertThat(spooled.get(0).getFileName().toString()).doesNotContain("escape");
            if (FileSystems.getDefault().supportedFileAttributeViews().contains("posix")) {
                assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(spooled.get(0))))
                        .isEqualTo("rw-------");
            }
        }

        assertThat(spoolFilesEventually(0)).isEmpty();
        assertThat(spoolDir.resolveSibling("escape.mp3")).doesNotExist();
        assertThat(calls(openai)).isEmpty();
        assertThat(calls(speech)).isEmpty();
    }

    /** Past {@code max-upload-spool-size} the upload is routed as naming no model: the default, byte for byte. */
    @Test
    void pastTheSpoolBoundTheUploadGoesToTheDefaultUpstreamWhole() {
        start("max-upload-spool-size", "128KB");
        byte[] body = fileFirst(random(1024 * 1024, 4), "whisper-large-v3");

        RawHttp.Response r = upload(body, false);

        assertThat(r.status()).as(r.bodyText()).isEqualTo(200);
        assertThat(r.header("OpenAI-Proxy-Upstream")).contains("openai");
        assertThat(calls(speech)).isEmpty();
        assertThat(calls(openai))
                .singleElement()
                .satisfies(c -> assertThat(c.getBody()).isEqualTo(body));
    }

    /**
     * Many file-first uploads at once against a spool bound smaller than their files together: every one is answered
     * 200, whole, by the upstream of its model or (past the bound) the default; none fails, and no file is left. Each
     * declares its length, which (under half the bound) it reserves at once: some fit and are routed, rather than all
     * taking a share.
     */
    @Test
    void manyUploadsAtOnceShareTheSpoolBoundAndAllArrive() throws Exception {
        start("max-upload-spool-size", "1MB");
        int n = 6;
        List<byte[]> bodies = new java.util.ArrayList<>();
        for (int i = 0; i < n; i++) {
            bodies.add(fileFirst(random(448 * 1024, 10 + i), "whisper-large-v3"));
        }
        java.util.concurrent.ExecutorService threads = java.util.concurrent.Executors.newFixedThreadPool(n);
        try {
            List<java.util.concurrent.Future<RawHttp.Response>> answers = new java.util.ArrayList<>();
            for (byte[] body : bodies) {
                answers.add(threads.submit(() -> upload(body, true)));
            }
            for (java.util.concurrent.Future<RawHttp.Response> a : answers) {
                RawHttp.Response r = a.get(60, TimeUnit.SECONDS);
                assertThat(r.status()).as(r.bodyText()).isEqualTo(200);
            }
        } finally {
            threads.shutdownNow();
        }
        List<LoggedRequest> all = new java.util.ArrayList<>(calls(speech));
        all.addAll(calls(openai));
        assertThat(all).hasSize(n);
        assertThat(all.stream().map(LoggedRequest::getBody))
                .as("each upload whole, wherever it went")
                .allSatisfy(
                        b -> assertThat(bodies).anySatisfy(sent -> assertThat(b).isEqualTo(sent)));
        assertThat(calls(speech)).as("at least one within the bound").isNotEmpty();
    }

    /**
     * A proxy killed mid-upload (SIGKILL: its close never ran) left its spool file; the next one deletes it when it
     * starts, and then routes a file-first upload as ever.
     */
    @Test
    void aStartingProxyDeletesTheSpoolFileOfOneThatWasKilled() throws Exception {
        Process gone = new ProcessBuilder("true").start();
        gone.waitFor();
        Path left = Files.write(spoolDir.resolve("openai-proxy-upload-" + gone.pid() + "-42.spool"), random(1024, 2));

        start();

        assertThat(left).doesNotExist();
        byte[] body = fileFirst(random(256 * 1024, 3), "whisper-large-v3");
        RawHttp.Response r = upload(body, true);
        assertThat(r.status()).as(r.bodyText()).isEqualTo(200);
        assertThat(r.header("OpenAI-Proxy-Upstream")).contains("speech");
    }

    /**
     * A client that declares a length as large as the spool bound and then sends nothing more holds only what it
     * spooled: an upload meanwhile is still spooled and routed by its model, not sent to the default upstream.
     */
    @Test
    void aSlowUploadDeclaringTheWholeBoundDoesNotStarveAnother() throws Exception {
        start("max-upload-spool-size", "1MB");
        try (RawHttp slow = RawHttp.connect(proxy.port())) {
            slow.write(head(true, 1000 * 1024));
            slow.write(concat(fileHead("slow.mp3"), random(128 * 1024, 30)));
            assertThat(spoolFilesEventually(1)).as("the slow one spools").hasSize(1);

            byte[] body = fileFirst(random(512 * 1024, 31), "whisper-large-v3");
            RawHttp.Response r = upload(body, true);

            assertThat(r.status()).as(r.bodyText()).isEqualTo(200);
            assertThat(r.header("OpenAI-Proxy-Upstream")).contains("speech");
            assertThat(calls(speech))
                    .singleElement()
                    .satisfies(c -> assertThat(c.getBody()).isEqualTo(body));
        }
        assertThat(calls(openai)).isEmpty();
    }

    /** Closing the engine deletes a spool file an upload still being sent has. */
    @Test
    void closingTheProxyMidSpoolLeavesNoFile() throws Exception {
        start();
        try (RawHttp c = RawHttp.connect(proxy.port())) {
            c.write(head(true, 8L * 1024 * 1024));
            c.write(concat(fileHead("a.mp3"), random(512 * 1024, 20)));
            assertThat(spoolFilesEventually(1)).hasSize(1);

            proxy.close();
            proxy = null;

            assertThat(spoolFilesEventually(0)).isEmpty();
        }
        assertThat(calls(openai)).isEmpty();
        assertThat(calls(speech)).isEmpty();
    }

    /** More than {@code max-upload-size} before the model: 413, as an upload over it always is; nobody called. */
    @Test
    void anUploadOverTheLimitWhileSpooledIs413() {
        start("max-body-size", "64KB", "max-upload-size", "256KB");
        byte[] body = fileFirst(random(1024 * 1024, 5), "whisper-large-v3");

        RawHttp.Response r = upload(body, false);

        assertOpenAiError(r, 413, "invalid_request_error", "request_too_large");
        assertThat(calls(openai)).isEmpty();
        assertThat(calls(speech)).isEmpty();
    }

    /** Spooled to its end before the call, the upload is a whole body: a 503 is retried with all of it. */
    @Test
    void anUploadSpooledWholeIsRetried() {
        start("upstreams.speech.retries", "1");
        speech.stubFor(post(urlPathEqualTo(PATH))
                .inScenario("retry")
                .whenScenarioStateIs(Scenario.STARTED)
                .willReturn(aResponse().withStatus(503).withBody("{\"error\":{\"message\":\"busy\"}}"))
                .willSetStateTo("again"));
        speech.stubFor(post(urlPathEqualTo(PATH))
                .inScenario("retry")
                .whenScenarioStateIs("again")
                .willReturn(aResponse()
                        .withStatus(200)
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"text\":\"done\"}")));
        byte[] body = fileFirst(random(256 * 1024, 6), "whisper-large-v3");

        RawHttp.Response r = upload(body, true);

        assertThat(r.status()).as(r.bodyText()).isEqualTo(200);
        assertThat(r.header("OpenAI-Proxy-Attempts")).contains("speech 503, speech 200");
        assertThat(calls(speech))
                .hasSize(2)
                .allSatisfy(c -> assertThat(c.getBody()).isEqualTo(body));
    }

    /** Without any named upstream nothing is spooled: the upload streams to api-key / base-url as before. */
    @Test
    void withoutNamedUpstreamsNothingIsSpooled() {
        proxy = TomcatProxy.servlet(ProxySettings.from(Map.of(
                        "api-key",
                        KEY,
                        "base-url",
                        openai.baseUrl(),
                        "upload-spool-dir",
                        spoolDir.toString(),
                        "pass-through-routes",
                        UploadSizeLimitHttpTest.ROUTES))
                .toConfig());
        byte[] body = fileFirst(random(512 * 1024, 7), "whisper-large-v3");

        RawHttp.Response r = upload(body, true);

        assertThat(r.status()).as(r.bodyText()).isEqualTo(200);
        assertThat(calls(openai))
                .singleElement()
                .satisfies(c -> assertThat(c.getBody()).isEqualTo(body));
    }
}
