package io.github.openaiproxy.integration;

import static com.github.tomakehurst.wiremock.client.WireMock.aMultipart;
import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.containing;
import static com.github.tomakehurst.wiremock.client.WireMock.delete;
import static com.github.tomakehurst.wiremock.client.WireMock.equalTo;
import static com.github.tomakehurst.wiremock.client.WireMock.get;
import static com.github.tomakehurst.wiremock.client.WireMock.matchingJsonPath;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.wireMockConfig;
import static io.github.openaiproxy.servlet.support.OpenAiFixtures.chunk;
import static io.github.openaiproxy.servlet.support.OpenAiFixtures.contentChunk;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.tomakehurst.wiremock.WireMockServer;
import com.github.tomakehurst.wiremock.client.ResponseDefinitionBuilder;
import com.github.tomakehurst.wiremock.http.Request;
import com.github.tomakehurst.wiremock.stubbing.Scenario;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import com.sun.net.httpserver.HttpServer;
import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.access.ProxyKeys;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.servlet.support.OpenAiFixtures;
import io.github.openaiproxy.servlet.support.StubUpstream;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import jakarta.servlet.Filter;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletRequest;
import jakarta.servlet.ServletResponse;
import jakarta.servlet.http.HttpServletRequest;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The official OpenAI Node SDK ({@code openai} on npm, pinned in {@code src/test/node/package-lock.json}) against
 * the proxy's {@code /v1} routes with only its base URL changed: plain calls, streams read with {@code for await},
 * uploads (files, audio, image edits), binary answers (a file's content, speech), pages, the Responses API, and the
 * typed errors and retries the SDK derives from the proxy's statuses and headers; and the same SDK in a web page on another origin, through what a browser's fetch does across origins
 * ({@code browser-fetch.mjs}: the preflight, and only the exposed headers readable).
 *
 * <p>One node process ({@code src/test/node/sdk-suite.mjs}) runs every scenario against two proxies in embedded
 * Tomcat: one in front of WireMock answering in OpenAI's wire format, one in front of a hand-written upstream that
 * holds, stalls or breaks streams and notices when the proxy lets go of them (asked through a small control
 * server while the script waits). The script reports what the SDK saw as JSON; each test here asserts one
 * scenario on that and on what the proxy and the upstream received.
 *
 * <p>The build installs the SDK ({@code npm ci} into {@code target/node-sdk}, see the module's POM). Without
 * {@code node} or that install the tests are skipped, unless {@code OPENAI_PROXY_NODE_TESTS=required} (set by
 * CI), which turns either into a failure.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class NodeSdkTest {
    private static final Path SUITE = Path.of("target", "node-sdk");
    private static final String SERVER_KEY = "sk-server-key-123456";
    private static final Duration WAIT = Duration.ofSeconds(5);
    private static final Duration NODE_LIMIT = Duration.ofSeconds(90);
    private static final int MAX_BODY_BYTES = 64 * 1024;
    /** The uploads' limit, above the JSON bodies': an upload between the two streams through. */
    private static final int MAX_UPLOAD_BYTES = 256 * 1024;
    /** The origin of the web page the browser scenarios' SDK runs in. */
    private static final String PAGE_ORIGIN = "https://app.example.com";

    private static final ObjectMapper JSON = new ObjectMapper();

    /** What the chat streams say, in pieces that split a multi-byte character across events' bytes. */
    private static final String[] PIECES = {"Hel", "lo, ", "wor", "ld! ", "你好🌍"};

    private static final String USAGE_JSON = "{\"prompt_tokens\":19,\"completion_tokens\":10,\"total_tokens\":29,"
            + "\"prompt_tokens_details\":{\"cached_tokens\":4,\"audio_tokens\":0},"
            + "\"completion_tokens_details\":{\"reasoning_tokens\":3,\"audio_tokens\":0,"
            + "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}";

    private static final float[] EMBEDDING = {0.0023064255f, -0.009327292f, 0.015797347f, -0.0077780345f};

    private static final String FILE = """
            {"id": "file-abc123", "object": "file", "bytes": 96, "created_at": 1741476542,
             "filename": "train.jsonl", "purpose": "fine-tune", "status": "processed", "status_details": null}
            """;

    private static final String RESPONSE = """
            {"id": "resp_67ccd2bed1ec8190", "object": "response", "created_at": 1741476542, "status": "completed",
             "error": null, "incomplete_details": null, "instructions": null, "max_output_tokens": null,
             "model": "gpt-4o-mini-2024-07-18",
             "output": [{"type": "message", "id": "msg_67ccd2bf17f0819081ff3bb2cf6508e6", "status": "completed",
                         "role": "assistant",
                         "content": [{"type": "output_text", "text": "Hello there", "annotations": []}]}],
             "parallel_tool_calls": true, "previous_response_id": null, "reasoning": {"effort": null, "summary": null},
             "store": true, "temperature": 1.0, "text": {"format": {"type": "text"}}, "tool_choice": "auto",
             "tools": [], "top_p": 1.0, "truncation": "disabled",
             "usage": {"input_tokens": 19, "input_tokens_details": {"cached_tokens": 4}, "output_tokens": 10,
                       "output_tokens_details": {"reasoning_tokens": 3}, "total_tokens": 29},
             "user": null, "metadata": {}}
            """;

    private static final byte[] FILE_BYTES =
            "{\"messages\":[{\"role\":\"user\",\"content\":\"files\"}]}\n".getBytes(StandardCharsets.UTF_8);
    /** Speech as the SDK must get it: an MP3 frame's first bytes, and bytes that are not UTF-8. */
    private static final byte[] SPEECH = {
        (byte) 0xFF, (byte) 0xF3, 0x44, (byte) 0xC4, 0, 0, (byte) 0x80, 10, 13, (byte) 0xC3
    };

    private static final String EDITED = "{\"created\": 1713833628, \"data\": [{\"b64_json\": \"iVBORw0KGgo=\"}]}";

    private static String fileList(String id, boolean hasMore) {
        return "{\"object\": \"list\", \"data\": [" + FILE.strip().replace("file-abc123", id) + "], \"first_id\": \""
                + id + "\", \"last_id\": \"" + id + "\", \"has_more\": " + hasMore + "}";
    }

    private final ProxyKeys.NewKey metered = ProxyKeys.generate();
    private final ProxyKeys.NewKey perMinute = ProxyKeys.generate();
    private final ProxyKeys.NewKey oneAtATime = ProxyKeys.generate();
    private final ProxyKeys.NewKey spent = ProxyKeys.generate();

    private final ScenarioLog arrivals = new ScenarioLog();
    private final Map<String, StubUpstream.Exchange> held = new ConcurrentHashMap<>();
    private final Map<String, CountDownLatch> answerNow = new ConcurrentHashMap<>();
    private final List<TomcatProxy> proxies = new ArrayList<>();
    private WireMockServer upstream;
    /** The routed proxy's upstream for whisper-1 (its default is {@link #upstream}). */
    private WireMockServer speechUpstream;

    private StubUpstream streamsUpstream;
    private HttpServer control;
    private JsonNode results;
    /** Why the suite could not run here (no node, no SDK installed), or null. */
    private String skipped;

    private String nodeOutput = "";

    // --- the run

    @BeforeAll
    void runTheNodeSuite() throws Exception {
        skipped = whyNodeCannotRun();
        if (skipped != null) {
            System.out.println("Node SDK tests skipped: " + skipped);
            return;
        }
        upstream = new WireMockServer(wireMockConfig().dynamicPort().bindAddress("127.0.0.1"));
        upstream.start();
        stubOpenAi();
        streamsUpstream = StubUpstream.start(this::streamsAnswer);
        TomcatProxy proxy = start(
                upstream.baseUrl(),
                Map.of(
                        "pass-through-routes",
                        "POST /v1/chat/completions, POST /v1/images/generations, POST /v1/embeddings,"
                                + " POST /v1/responses, GET /v1/models, GET /v1/models/{id}, POST /v1/files,"
                                + " GET /v1/files, GET /v1/files/{id}/content, POST /v1/audio/speech,"
                                + " POST /v1/audio/transcriptions, POST /v1/images/edits, GET /v1/responses/{id},"
                                + " POST /v1/responses/{id}/cancel, DELETE /v1/responses/{id}",
                        "max-body-size",
                        Integer.toString(MAX_BODY_BYTES),
                        "max-upload-size",
                        Integer.toString(MAX_UPLOAD_BYTES),
                        "access.keys",
                        String.join(
                                ",",
                                metered.hash() + ":metered:metered",
                                perMinute.hash() + ":per-minute:per-minute",
                                oneAtATime.hash() + ":one-at-a-time:one-at-a-time",
                                spent.hash() + ":spent:spent"),
                        "policies.metered.tokens-per-minute",
                        "1000000",
                        "policies.per-minute.requests-per-minute",
                        "1",
                        "policies.one-at-a-time.concurrent-requests",
                        "1",
                        "policies.spent.tokens-per-month",
                        "1",
                        "cors.allowed-origins",
                        PAGE_ORIGIN));
        TomcatProxy streams = start(streamsUpstream.baseUrl().toString(), Map.of("stream-idle-timeout", "1s"));
        speechUpstream = new WireMockServer(wireMockConfig().dynamicPort().bindAddress("127.0.0.1"));
        speechUpstream.start();
        speechUpstream.stubFor(post("/v1/audio/transcriptions").willReturn(json("{\"text\":\"Routed by its model\"}")));
        TomcatProxy routed = start(
                upstream.baseUrl(),
                Map.of(
                        "pass-through-routes", "POST /v1/audio/transcriptions",
                        "upstreams.speech.kind", "compatible",
                        "upstreams.speech.base-url", speechUpstream.baseUrl(),
                        "upstreams.speech.models", "whisper-1"));
        control = startControl();

        Map<String, Object> config = new LinkedHashMap<>();
        config.put("proxy", proxy.origin() + "/v1");
        config.put("streams", streams.origin() + "/v1");
        config.put("routed", routed.origin() + "/v1");
        config.put("control", "http://127.0.0.1:" + control.getAddress().getPort());
        config.put("maxBodyBytes", MAX_BODY_BYTES);
        config.put("maxUploadBytes", MAX_UPLOAD_BYTES);
        config.put("pageOrigin", PAGE_ORIGIN);
        config.put(
                "keys",
                Map.of(
                        "metered", metered.secret(),
                        "perMinute", perMinute.secret(),
                        "oneAtATime", oneAtATime.secret(),
                        "spent", spent.secret()));
        results = runNode(JSON.writeValueAsString(config));
    }

    @BeforeEach
    void nodeRan() {
        Assumptions.assumeTrue(skipped == null, () -> "Node SDK tests skipped: " + skipped);
    }

    @AfterAll
    void stop() {
        proxies.forEach(TomcatProxy::close);
        if (control != null) {
            control.stop(0);
        }
        if (streamsUpstream != null) {
            assertThat(streamsUpstream.handlerFailures()).isEmpty();
            streamsUpstream.close();
        }
        if (upstream != null) {
            upstream.stop();
        }
        if (speechUpstream != null) {
            speechUpstream.stop();
        }
    }

    // --- plain calls

    @Test
    void chatCompletionWithTheUpstreamsRequestId() {
        JsonNode r = value("chat");
        assertThat(r.path("status").asInt()).isEqualTo(200);
        assertThat(r.path("id").asText()).isEqualTo("chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG");
        assertThat(r.path("content").asText()).isEqualTo("Hello! How can I help you today?");
        assertThat(r.path("finishReason").asText()).isEqualTo("stop");
        assertThat(r.path("totalTokens").asInt()).isEqualTo(18);
        assertThat(r.path("requestId").asText()).isEqualTo("req_node_chat");
        assertThat(r.path("dataRequestId").asText()).isEqualTo("req_node_chat");

        LoggedRequest sent = onlyUpstreamChat("chat");
        assertThat(readJson(sent.getBodyAsString()).path("temperature").asDouble())
                .isEqualTo(0.2);
        assertThat(sent.getHeader("Authorization")).isEqualTo("Bearer " + SERVER_KEY);
        assertThat(sent.getAllHeaderKeys())
                .noneMatch(h -> h.toLowerCase(java.util.Locale.ROOT).startsWith("x-stainless-"));
    }

    @Test
    void aMeteredCallCarriesTheProxysRateLimitHeaders() {
        JsonNode r = value("chat-metered");
        assertThat(r.path("content").asText()).isEqualTo("Hello! How can I help you today?");
        assertThat(r.path("requestId").asText()).isEqualTo("req_node_chat");
        assertThat(r.path("limitTokens").asText()).isEqualTo("1000000");
        assertThat(Long.parseLong(r.path("remainingTokens").asText())).isBetween(1L, 1_000_000L - 18);
    }

    @Test
    void imageGeneration() {
        JsonNode r = value("images");
        assertThat(r.path("url").asText()).startsWith("https://oaidalleapiprodscus.blob.core.windows.net/");
        assertThat(r.path("revisedPrompt").asText()).startsWith("A cute baby sea otter");
        assertThat(upstreamRequests("/v1/images/generations", b -> b.contains("sea otter")))
                .hasSize(1);
    }

    @Test
    void listAndRetrieveModels() {
        JsonNode r = value("models");
        assertThat(texts(r.path("ids"))).containsExactly("gpt-4o-mini", "text-embedding-3-small", "dall-e-3");
        assertThat(r.path("retrieved").path("id").asText()).isEqualTo("gpt-4o-mini");
        assertThat(r.path("retrieved").path("ownedBy").asText()).isEqualTo("system");
        // The SDK sends the id's slash as %2F, which the proxy passes on raw, as compatible servers route it.
        assertThat(r.path("slashed").asText()).isEqualTo("meta-llama/Llama-3.1-8B-Instruct");
        assertThat(arrivals.of("models"))
                .extracting(Arrival::uri)
                .contains("/v1/models/meta-llama%2FLlama-3.1-8B-Instruct");
        assertThat(upstreamRequests("/v1/models/meta-llama/Llama-3.1-8B-Instruct", b -> true))
                .hasSize(1);
    }

    @Test
    void embeddingsAsBase64DecodedByTheSdkAndAsFloats() {
        JsonNode r = value("embeddings");
        for (String field : List.of("decoded", "floats")) {
            List<Float> got = new ArrayList<>();
            r.path(field).forEach(n -> got.add(n.floatValue()));
            assertThat(got).as(field).containsExactly(boxed(EMBEDDING));
        }
        assertThat(r.path("totalTokens").asInt()).isEqualTo(5);
        assertThat(upstreamRequests("/v1/embeddings", b -> true))
                .extracting(sent ->
                        readJson(sent.getBodyAsString()).path("encoding_format").asText())
                .containsExactlyInAnyOrder("base64", "float");
    }

    @Test
    void fileUploadAsMultipart() {
        JsonNode r = value("files");
        assertThat(r.path("id").asText()).isEqualTo("file-abc123");
        assertThat(r.path("filename").asText()).isEqualTo("train.jsonl");

        LoggedRequest sent = onlyUpstreamRequest("/v1/files", "train.jsonl");
        assertThat(sent.getHeader("Content-Type")).startsWith("multipart/form-data; boundary=");
        assertThat(sent.getHeader("Authorization")).isEqualTo("Bearer " + SERVER_KEY);
        Request.Part purpose = sent.getPart("purpose");
        assertThat(purpose.getBody().asString()).isEqualTo("fine-tune");
        Request.Part file = sent.getPart("file");
        assertThat(file.getHeader("Content-Disposition").firstValue()).contains("filename=\"train.jsonl\"");
        assertThat(file.getBody().asString()).isEqualTo(r.path("sent").asText());
    }

    /**
     * An upload larger than max-body-size and within max-upload-size goes through the SDK's multipart upload whole: the
     * proxy streams it unread under the uploads' limit, where a JSON body that large is refused (too-large).
     */
    @Test
    void anUploadOverTheBodyLimitAndWithinTheUploadLimitReachesTheUpstreamWhole() {
        JsonNode r = value("upload-over-body-limit");
        assertThat(r.path("id").asText()).as(r.toString()).isEqualTo("file-abc123");

        LoggedRequest sent = onlyUpstreamRequest("/v1/files", "over-body-limit.jsonl");
        assertThat(sent.getHeader("Content-Type")).startsWith("multipart/form-data; boundary=");
        byte[] file = sent.getPart("file").getBody().asBytes();
        assertThat(file).hasSize(2 * MAX_BODY_BYTES);
        assertThat(file).containsOnly((byte) 'y');
    }

    @Test
    void responsesPlainAndStreamed() {
        JsonNode plain = value("responses");
        assertThat(plain.path("id").asText()).isEqualTo("resp_67ccd2bed1ec8190");
        assertThat(plain.path("outputText").asText()).isEqualTo("Hello there");
        assertThat(plain.path("totalTokens").asInt()).isEqualTo(29);
        assertThat(plain.path("requestId").asText()).isEqualTo("req_node_responses");

        JsonNode streamed = value("responses-stream");
        assertThat(texts(streamed.path("types")))
                .containsExactly("response.created", "response.output_text.delta", "response.completed");
        assertThat(streamed.path("text").asText()).isEqualTo("Hello there");
        assertThat(streamed.path("completedStatus").asText()).isEqualTo("completed");
        assertThat(streamed.path("totalTokens").asInt()).isEqualTo(29);
    }

    @Test
    void filesListedPageByPageWithTheSdksQueryAsSent() {
        JsonNode r = value("files-list-pages");
        assertThat(texts(r.path("ids"))).containsExactly("file-1", "file-2");
        assertThat(upstream.getAllServeEvents().stream()
                        .map(e -> e.getRequest().getUrl())
                        .filter(u -> u.startsWith("/v1/files?")))
                .containsExactlyInAnyOrder(
                        "/v1/files?limit=1&purpose=fine-tune", "/v1/files?limit=1&purpose=fine-tune&after=file-1");
    }

    @Test
    void aFilesContentIsRelayedAsBytesWithTheHeadersThatDescribeIt() {
        JsonNode r = value("files-content");
        assertThat(Base64.getDecoder().decode(r.path("bytes").asText())).isEqualTo(FILE_BYTES);
        assertThat(r.path("contentType").asText()).isEqualTo("application/octet-stream");
        assertThat(r.path("contentLength").asText()).isEqualTo(Integer.toString(FILE_BYTES.length));
        assertThat(r.path("contentDisposition").asText()).isEqualTo("attachment; filename=\"train.jsonl\"");
        assertThat(r.path("requestId").asText()).isEqualTo("req_node_content");
        assertThat(onlyUpstreamRequest("/v1/files/file-abc123/content", "").getHeader("Accept"))
                .isEqualTo("application/binary");
    }

    @Test
    void speechIsRelayedAsTheUpstreamsBytes() {
        JsonNode r = value("speech");
        assertThat(Base64.getDecoder().decode(r.path("bytes").asText())).isEqualTo(SPEECH);
        assertThat(r.path("contentType").asText()).isEqualTo("audio/mpeg");
        assertThat(r.path("contentLength").asText()).isEqualTo(Integer.toString(SPEECH.length));
        assertThat(r.path("requestId").asText()).isEqualTo("req_node_speech");
        LoggedRequest sent = onlyUpstreamRequest("/v1/audio/speech", "\"speech\"");
        assertThat(sent.getHeader("Accept")).isEqualTo("application/octet-stream");
    }

    @Test
    void transcriptionsUploadedAsMultipartPlainAndStreamed() {
        assertThat(value("transcription").path("text").asText()).isEqualTo("Hello there");
        JsonNode streamed = value("transcription-stream");
        assertThat(texts(streamed.path("types")))
                .containsExactly("transcript.text.delta", "transcript.text.delta", "transcript.text.done");
        assertThat(streamed.path("text").asText()).isEqualTo("Hello there");

        List<LoggedRequest> sent = upstreamRequests("/v1/audio/transcriptions", b -> true);
        assertThat(sent).hasSize(2);
        for (LoggedRequest one : sent) {
            assertThat(one.getHeader("Content-Type")).startsWith("multipart/form-data; boundary=");
            Request.Part file = one.getPart("file");
            assertThat(file.getHeader("Content-Disposition").firstValue()).contains("filename=\"speech.mp3\"");
            assertThat(file.getBody().asBytes()).containsExactly((byte) 0xff, (byte) 0xf3, 0, 1, 2, (byte) 0x80);
        }
    }

    /**
     * The SDK (5.x and later) sends the fields in the order the call names them (4.x sent its text fields first); a
     * call that names the model before the file has a proxy with named upstreams route the upload by its model, as it
     * routes a JSON body: here to the upstream that serves whisper-1, with the client's multipart unchanged.
     */
    @Test
    void aTranscriptionIsRoutedByItsMultipartModel() {
        assertThat(value("routed-transcription").path("text").asText()).isEqualTo("Routed by its model");
        List<LoggedRequest> sent =
                speechUpstream.findAll(com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor(
                        urlPathEqualTo("/v1/audio/transcriptions")));
        assertThat(sent.stream().filter(r -> r.getBodyAsString().contains("filename=\"speech.mp3\"")))
                .singleElement()
                .satisfies(one -> {
                    assertThat(one.getPart("model").getBody().asString()).isEqualTo("whisper-1");
                    assertThat(one.getPart("file").getBody().asBytes())
                            .containsExactly((byte) 0xff, (byte) 0xf3, 0, 1, 2, (byte) 0x80);
                    String body = one.getBodyAsString();
                    assertThat(body.indexOf("name=\"model\""))
                            .as("the model before the file")
                            .isLessThan(body.indexOf("name=\"file\""));
                });
    }

    /**
     * openai 7.x (Node 22, not run here) sends an upload of a stream as a multipart body it writes lazily: chunked,
     * without a Content-Length, in small pieces. Its bytes and headers, sent by the suite through Node's fetch, stream
     * through to the upstream whole, over max-body-size and within max-upload-size, and without the SDK's own headers.
     */
    @Test
    void aChunkedMultipartUploadAs7xSendsItReachesTheUpstreamWhole() {
        JsonNode r = value("upload-streamed-7x");
        assertThat(r.path("status").asInt()).as(r.toString()).isEqualTo(200);
        assertThat(r.path("body").path("id").asText()).isEqualTo("file-abc123");
        assertThat(arrivals.of("upload-streamed-7x")).hasSize(1);

        LoggedRequest sent = onlyUpstreamRequest("/v1/files", "streamed-7x.jsonl");
        assertThat(sent.getHeader("Content-Type")).startsWith("multipart/form-data; boundary=openai-");
        assertThat(sent.getPart("purpose").getBody().asString()).isEqualTo("fine-tune");
        byte[] file = sent.getPart("file").getBody().asBytes();
        assertThat(file).hasSize(2 * MAX_BODY_BYTES);
        assertThat(file).containsOnly((byte) 's');
        assertThat(sent.getAllHeaderKeys())
                .noneMatch(h -> h.toLowerCase(java.util.Locale.ROOT).startsWith("x-stainless-"));
    }

    /** 7.x's chunked multipart with the model first is routed by its model, as the SDK's buffered form is. */
    @Test
    void aChunkedMultipartTranscriptionAs7xSendsItIsRoutedByItsModel() {
        JsonNode r = value("routed-transcription-streamed-7x");
        assertThat(r.path("status").asInt()).as(r.toString()).isEqualTo(200);
        assertThat(r.path("body").path("text").asText()).isEqualTo("Routed by its model");
        List<LoggedRequest> sent =
                speechUpstream.findAll(com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor(
                        urlPathEqualTo("/v1/audio/transcriptions")));
        assertThat(sent.stream().filter(one -> one.getBodyAsString().contains("streamed-7x.mp3")))
                .singleElement()
                .satisfies(one -> {
                    assertThat(one.getPart("model").getBody().asString()).isEqualTo("whisper-1");
                    assertThat(one.getPart("file").getBody().asBytes())
                            .containsExactly((byte) 0xff, (byte) 0xf3, 0, 1, 2, (byte) 0x80);
                });
    }

    @Test
    void anImageEditUploadsTheImageAndTheMask() {
        assertThat(value("image-edit").path("b64").asText()).isEqualTo("iVBORw0KGgo=");
        LoggedRequest sent = onlyUpstreamRequest("/v1/images/edits", "");
        assertThat(sent.getPart("prompt").getBody().asString()).isEqualTo("image-edit");
        assertThat(sent.getPart("image").getBody().asBytes()).containsExactly(0x89, 'P', 'N', 'G', 0, 1);
        assertThat(sent.getPart("mask").getBody().asBytes()).containsExactly(0x89, 'P', 'N', 'G', 0, 2);
    }

    /** A background response created, retrieved with {@code include[]}, cancelled and deleted. */
    @Test
    void aBackgroundResponseRetrievedCancelledAndDeleted() {
        JsonNode r = value("responses-background");
        assertThat(r.path("created").asText()).isEqualTo("queued");
        assertThat(r.path("retrieved").asText()).isEqualTo("in_progress");
        assertThat(r.path("cancelled").asText()).isEqualTo("cancelled");
        // OpenAI answers the delete 200 with no body and no type: the SDK reads it as empty text.
        assertThat(r.path("deleted").asText()).isEmpty();
        assertThat(upstream.getAllServeEvents().stream()
                        .map(e -> e.getRequest().getUrl())
                        .filter(u -> u.startsWith("/v1/responses/resp_bg?include")))
                .containsExactly("/v1/responses/resp_bg?include%5B%5D=file_search_call.results");
    }

    @Test
    void aBackgroundResponsesEventsStreamedAgainFromAGet() {
        JsonNode r = value("responses-resume-stream");
        assertThat(texts(r.path("types")))
                .containsExactly("response.created", "response.output_text.delta", "response.completed");
        assertThat(r.path("totalTokens").asInt()).isEqualTo(29);
        assertThat(upstream.getAllServeEvents().stream()
                        .map(e -> e.getRequest().getUrl())
                        .filter(u -> u.contains("stream=true")))
                .containsExactly("/v1/responses/resp_bg?stream=true&starting_after=0");
    }

    // --- chat streams

    @Test
    void aStreamReadWithForAwait() {
        JsonNode r = value("stream");
        assertThat(r.path("text").asText()).isEqualTo(String.join("", PIECES));
        assertThat(texts(r.path("finishReasons"))).containsExactly("stop");
        assertThat(r.path("usage")).isEmpty();
        assertThat(r.path("chunksWithUsageMember").asInt()).isZero();
    }

    @Test
    void aStreamThatAsksForUsageGetsTheUsageChunk() {
        for (String scenario : List.of("stream-usage", "stream-metered-usage")) {
            JsonNode r = value(scenario);
            assertThat(r.path("text").asText()).as(scenario).isEqualTo(String.join("", PIECES));
            assertThat(texts(r.path("finishReasons"))).as(scenario).containsExactly("stop");
            assertThat(r.path("usage")).as(scenario).hasSize(1);
            assertThat(r.path("usage").get(0).path("total_tokens").asInt())
                    .as(scenario)
                    .isEqualTo(29);
            assertThat(r.path("chunksWithoutChoices").asInt()).as(scenario).isEqualTo(1);
        }
    }

    @Test
    void aMeteredStreamThatDidNotAskForUsageHasNoUsageChunk() {
        JsonNode r = value("stream-metered");
        assertThat(r.path("text").asText()).isEqualTo(String.join("", PIECES));
        assertThat(texts(r.path("finishReasons"))).containsExactly("stop");
        assertThat(r.path("usage")).as("usage chunks").isEmpty();
        assertThat(r.path("chunksWithUsageMember").asInt()).isZero();
        assertThat(r.path("chunksWithoutChoices").asInt()).isZero();
        // It was metered: the proxy asked the upstream for the usage the client did not ask for, and took it out.
        JsonNode sent = readJson(onlyUpstreamChat("stream-metered").getBodyAsString());
        assertThat(sent.path("stream_options").path("include_usage").asBoolean())
                .as("include_usage the proxy asked for: %s", sent)
                .isTrue();
        // Unmetered, the same request went upstream as the SDK sent it.
        JsonNode plain = readJson(onlyUpstreamChat("stream").getBodyAsString());
        assertThat(plain.has("stream_options")).as("%s", plain).isFalse();
    }

    @Test
    void abortingAStreamCancelsTheUpstreamCall() {
        JsonNode r = value("stream-abort");
        assertThat(r.path("chunks").asInt()).isEqualTo(2);
        assertThat(r.path("text").asText()).isEqualTo("Hello");
        assertThat(r.path("upstream").path("closed").asBoolean())
                .as("the upstream saw its connection closed after the SDK aborted: %s", r)
                .isTrue();
    }

    @Test
    void anSdkTimeoutIsAConnectionTimeoutAndTheUpstreamCallIsDroppedOnceItAnswers() {
        JsonNode r = value("timeout");
        assertThat(r.path("error").path("class").asText()).isEqualTo("APIConnectionTimeoutError");
        assertThat(r.path("afterAnswer").path("closed").asBoolean())
                .as("the upstream saw its connection closed once it answered the gone client: %s", r)
                .isTrue();
        assertThat(arrivals.of("timeout")).hasSize(1);
    }

    /**
     * Not yet: Tomcat does not watch an async request's connection once its body has been read, so the proxy
     * learns that the SDK gave up only when it writes the upstream's answer (ClientDisconnectTest). Until then the
     * upstream call runs on, and each retry the SDK makes after its timeout adds another.
     */
    @Test
    @Disabled("the servlet container reports a client gone before the answer only when the proxy writes to it")
    void anSdkTimeoutCancelsTheUpstreamCallBeforeItAnswers() {
        JsonNode r = value("timeout");
        assertThat(r.path("beforeAnswer").path("closed").asBoolean())
                .as("the upstream saw its connection closed while it still worked: %s", r)
                .isTrue();
    }

    @Test
    void aStalledUpstreamStreamEndsWithAnErrorTheSdkRaises() {
        JsonNode r = value("stream-idle");
        assertThat(r.path("text").asText()).isEqualTo("Hello");
        JsonNode e = r.path("error");
        assertThat(e.path("class").asText()).isEqualTo("APIError");
        assertThat(e.path("code").asText()).isEqualTo("upstream_timeout");
        assertThat(e.path("type").asText()).isEqualTo("server_error");
    }

    @Test
    void aBrokenUpstreamStreamEndsWithAnErrorTheSdkRaises() {
        JsonNode r = value("stream-broken");
        assertThat(r.path("text").asText()).isEqualTo("Hello");
        JsonNode e = r.path("error");
        assertThat(e.path("class").asText()).isEqualTo("APIError");
        assertThat(e.path("code").asText()).isEqualTo("upstream_disconnected");
    }

    // --- errors

    @Test
    void aWrongProxyKeyIsAnAuthenticationErrorNotRetried() {
        JsonNode e = value("bad-key");
        assertThat(e.path("class").asText()).isEqualTo("AuthenticationError");
        assertThat(e.path("status").asInt()).isEqualTo(401);
        assertThat(e.path("code").asText()).isEqualTo("invalid_api_key");
        assertThat(arrivals.of("bad-key")).hasSize(1);
        assertThat(upstreamRequests("/v1/chat/completions", b -> b.contains("bad-key")))
                .isEmpty();
    }

    @Test
    void anUnknownRouteIsNotFoundError() {
        JsonNode e = value("unknown-route");
        assertThat(e.path("class").asText()).isEqualTo("NotFoundError");
        assertThat(e.path("status").asInt()).isEqualTo(404);
        assertThat(e.path("code").asText()).isEqualTo("unknown_url");
        assertThat(arrivals.of("unknown-route")).hasSize(1);
    }

    @Test
    void aProxyRateLimitIsRateLimitErrorWithOpenAisHeaders() {
        JsonNode r = value("rate-limit");
        assertThat(r.path("first").asText()).isEqualTo("Hello! How can I help you today?");
        JsonNode e = r.path("error");
        assertThat(e.path("class").asText()).isEqualTo("RateLimitError");
        assertThat(e.path("status").asInt()).isEqualTo(429);
        assertThat(e.path("code").asText()).isEqualTo("rate_limit_exceeded");
        assertThat(e.path("type").asText()).isEqualTo("requests");
        JsonNode headers = e.path("headers");
        assertThat(headers.path("x-ratelimit-limit-requests").asText()).isEqualTo("1");
        assertThat(headers.path("x-ratelimit-remaining-requests").asText()).isEqualTo("0");
        assertThat(Integer.parseInt(headers.path("retry-after").asText())).isBetween(1, 60);
        assertThat(arrivals.of("rate-limit")).hasSize(2);
        assertThat(upstreamRequests("/v1/chat/completions", b -> b.contains("\"rate-limit\"")))
                .hasSize(1);
    }

    @Test
    void theSdkRetriesAProxyRateLimitAfterItsRetryAfter() {
        JsonNode r = value("rate-limit-retry");
        assertThat(r.path("firstText").asText()).isEqualTo(String.join("", PIECES));
        assertThat(r.path("secondContent").asText()).isEqualTo("Hello! How can I help you today?");
        List<Arrival> tries = arrivals.of("rate-limit-retry").stream()
                .filter(a -> a.retryCount() != null)
                .toList();
        // The stream, then the second call: refused while the stream ran, taken on the SDK's retry.
        assertThat(tries).extracting(Arrival::retryCount).containsExactly("0", "0", "1");
        long waitedMs = TimeUnit.NANOSECONDS.toMillis(
                tries.get(2).nanos() - tries.get(1).nanos());
        assertThat(waitedMs)
                .as("the SDK waited Retry-After: 1 (its own first backoff is at most 500 ms)")
                .isBetween(950L, 5000L);
        assertThat(upstreamRequests("/v1/chat/completions", b -> b.contains("rate-limit-retry")))
                .hasSize(1);
    }

    /** A POST the SDK tries again reaches the upstream both times with the caller's Idempotency-Key. */
    @Test
    void aRetriedPostKeepsItsIdempotencyKeyUpstream() {
        assertThat(value("idempotent-retry").path("content").asText()).isEqualTo("Hello! How can I help you today?");
        assertThat(arrivals.of("idempotent-retry"))
                .extracting(Arrival::retryCount)
                .containsExactly("0", "1");
        List<LoggedRequest> sent = upstreamRequests("/v1/chat/completions", b -> b.contains("idempotent-retry"));
        assertThat(sent).extracting(r -> r.getHeader("Idempotency-Key")).containsExactly("idem-node-1", "idem-node-1");
    }

    @Test
    void anExhaustedBudgetIsInsufficientQuotaAndNotRetried() {
        JsonNode e = value("budget");
        assertThat(e.path("class").asText()).isEqualTo("RateLimitError");
        assertThat(e.path("status").asInt()).isEqualTo(429);
        assertThat(e.path("code").asText()).isEqualTo("insufficient_quota");
        assertThat(e.path("headers").path("x-should-retry").asText()).isEqualTo("false");
        assertThat(arrivals.of("budget"))
                .as("requests that reached the proxy, despite maxRetries: 3")
                .hasSize(1);
        assertThat(upstreamRequests("/v1/chat/completions", b -> b.contains("budget")))
                .isEmpty();
    }

    @Test
    void anOversizedBodyIs413AndNotRetried() {
        for (String scenario : List.of("too-large", "too-large-upload")) {
            JsonNode e = value(scenario);
            assertThat(e.path("isAPIError").asBoolean()).as(scenario).isTrue();
            assertThat(e.path("status").asInt()).as(scenario).isEqualTo(413);
            assertThat(e.path("code").asText()).as(scenario).isEqualTo("request_too_large");
        }
        assertThat(arrivals.of("too-large")).hasSize(1);
        assertThat(arrivals.of("too-large-upload")).hasSize(1);
        // 8 MiB is past what Tomcat reads and drops after the 413 (max-swallow-size, 2 MB), so it closes the
        // connection while the SDK still sends: whether the SDK reads the 413 first or meets the reset (and retries,
        // up to its maxRetries of 2) is a race (README, "Errors"). Either way nothing reaches the upstream (below).
        JsonNode big = value("too-large-upload-big");
        assertThat(big.path("status").asInt() == 413
                        || big.path("class").asText().contains("Connection"))
                .as("413 or a connection error: %s", big)
                .isTrue();
        assertThat(arrivals.of("too-large-upload-big")).hasSizeBetween(1, 3);
        assertThat(upstreamRequests("/v1/chat/completions", b -> b.contains("too-large")))
                .isEmpty();
        assertThat(upstreamRequests("/v1/files", b -> b.contains("big.jsonl"))).isEmpty();
        assertThat(upstreamRequests("/v1/files", b -> b.contains("huge.jsonl"))).isEmpty();
    }

    // --- the SDK in a web page on another origin

    @Test
    void inAWebPageOnAnotherOriginTheSdkReadsTheRequestIdAndTheStream() {
        JsonNode chat = value("browser-chat");
        assertThat(chat.path("content").asText()).isEqualTo("Hello! How can I help you today?");
        assertThat(chat.path("requestId").asText()).isEqualTo("req_node_chat");
        JsonNode stream = value("browser-stream");
        assertThat(stream.path("text").asText()).isEqualTo(String.join("", PIECES));
        // Each call was preceded by a preflight (a browser sends none of the page's headers on it).
        assertThat(arrivals.all().stream().filter(a -> a.method().equals("OPTIONS")))
                .hasSizeGreaterThanOrEqualTo(2);
    }

    /**
     * The SDK's {@code chat.completions.stream()} helper in a web page, with the {@code X-Stainless-Helper-Method}
     * header openai 7.x adds to its calls: the preflight allows it, and the helper assembles the streamed answer.
     */
    @Test
    void inAWebPageTheStreamHelperWith7xsHelperHeaderIsAllowed() {
        JsonNode r = value("browser-stream-helper");
        assertThat(r.path("content").asText()).isEqualTo(String.join("", PIECES));
        assertThat(r.path("finishReason").asText()).isEqualTo("stop");
        // The preflight carries no page header (no scenario tag); browser-fetch refuses a call whose headers it did not
        // allow, so the call's arrival is the sign it did.
        assertThat(arrivals.of("browser-stream-helper"))
                .extracting(Arrival::method)
                .containsExactly("POST");
    }

    /**
     * A browser shows a script only the headers the answer exposes: without {@code x-should-retry} among them the
     * SDK in a web page cannot see the budget's "do not retry" and retries a refusal that cannot change.
     */
    @Test
    void inAWebPageOnAnotherOriginAnExhaustedBudgetIsNotRetriedEither() {
        JsonNode e = value("browser-budget");
        assertThat(e.path("class").asText()).isEqualTo("RateLimitError");
        assertThat(e.path("code").asText()).isEqualTo("insufficient_quota");
        assertThat(e.path("headers").path("x-should-retry").asText())
                .as("visible to the page: %s", e.path("headers"))
                .isEqualTo("false");
        assertThat(arrivals.of("browser-budget").stream().filter(a -> a.method().equals("POST")))
                .as("calls that reached the proxy, despite maxRetries: 3")
                .hasSize(1);
    }

    // --- the upstreams

    private void stubOpenAi() {
        upstream.stubFor(post("/v1/chat/completions")
                .atPriority(10)
                .willReturn(json(OpenAiFixtures.CHAT_COMPLETION).withHeader("x-request-id", "req_node_chat")));
        upstream.stubFor(post("/v1/chat/completions")
                .atPriority(5)
                .withRequestBody(matchingJsonPath("$[?(@.stream == true)]"))
                .willReturn(sse(chatStream(false)).withChunkedDribbleDelay(12, 150)));
        upstream.stubFor(post("/v1/chat/completions")
                .atPriority(4)
                .withRequestBody(matchingJsonPath("$[?(@.stream == true)]"))
                .withRequestBody(matchingJsonPath("$.stream_options[?(@.include_usage == true)]"))
                .willReturn(sse(chatStream(true)).withChunkedDribbleDelay(12, 150)));
        upstream.stubFor(post("/v1/chat/completions")
                .atPriority(3)
                .withRequestBody(containing("slow stream"))
                .willReturn(sse(chatStream(false)).withChunkedDribbleDelay(6, 300)));
        upstream.stubFor(post("/v1/chat/completions")
                .atPriority(2)
                .withRequestBody(containing("idempotent-retry"))
                .inScenario("idempotent-retry")
                .whenScenarioStateIs(Scenario.STARTED)
                .willReturn(aResponse()
                        .withStatus(500)
                        .withHeader("Content-Type", "application/json")
                        .withBody(OpenAiFixtures.SERVER_ERROR))
                .willSetStateTo("failed once"));
        upstream.stubFor(post("/v1/chat/completions")
                .atPriority(2)
                .withRequestBody(containing("idempotent-retry"))
                .inScenario("idempotent-retry")
                .whenScenarioStateIs("failed once")
                .willReturn(json(OpenAiFixtures.CHAT_COMPLETION)));
        upstream.stubFor(post("/v1/embeddings").atPriority(10).willReturn(json(OpenAiFixtures.EMBEDDING)));
        upstream.stubFor(post("/v1/embeddings")
                .atPriority(5)
                .withRequestBody(matchingJsonPath("$[?(@.encoding_format == 'base64')]"))
                .willReturn(json(OpenAiFixtures.EMBEDDING.replace(
                        "[0.0023064255, -0.009327292, 0.015797347, -0.0077780345]", "\"" + base64(EMBEDDING) + "\""))));
        upstream.stubFor(post("/v1/images/generations").willReturn(json(OpenAiFixtures.IMAGES)));
        upstream.stubFor(get("/v1/models").willReturn(json(OpenAiFixtures.MODELS)));
        upstream.stubFor(get("/v1/models/gpt-4o-mini").willReturn(json(OpenAiFixtures.MODEL)));
        upstream.stubFor(get("/v1/models/meta-llama/Llama-3.1-8B-Instruct")
                .willReturn(json(OpenAiFixtures.MODEL.replace("gpt-4o-mini", "meta-llama/Llama-3.1-8B-Instruct"))));
        upstream.stubFor(post("/v1/files").willReturn(json(FILE)));
        upstream.stubFor(get(urlPathEqualTo("/v1/files")).willReturn(json(fileList("file-1", true))));
        upstream.stubFor(get(urlPathEqualTo("/v1/files"))
                .withQueryParam("after", equalTo("file-1"))
                .willReturn(json(fileList("file-2", false))));
        upstream.stubFor(get("/v1/files/file-abc123/content")
                .willReturn(aResponse()
                        .withStatus(200)
                        .withHeader("Content-Type", "application/octet-stream")
                        .withHeader("Content-Disposition", "attachment; filename=\"train.jsonl\"")
                        .withHeader("Content-Length", Integer.toString(FILE_BYTES.length))
                        .withHeader("x-request-id", "req_node_content")
                        .withBody(FILE_BYTES)));
        upstream.stubFor(post("/v1/audio/speech")
                .willReturn(aResponse()
                        .withStatus(200)
                        .withHeader("Content-Type", "audio/mpeg")
                        .withHeader("Content-Length", Integer.toString(SPEECH.length))
                        .withHeader("x-request-id", "req_node_speech")
                        .withBody(SPEECH)));
        upstream.stubFor(post("/v1/audio/transcriptions")
                .atPriority(10)
                .willReturn(json("{\"text\":\"Hello there\",\"usage\":{\"type\":\"duration\",\"seconds\":1}}")));
        upstream.stubFor(post("/v1/audio/transcriptions")
                .atPriority(5)
                .withMultipartRequestBody(aMultipart("stream").withBody(equalTo("true")))
                .willReturn(sse("data: {\"type\":\"transcript.text.delta\",\"delta\":\"Hello\"}\n\n"
                        + "data: {\"type\":\"transcript.text.delta\",\"delta\":\" there\"}\n\n"
                        + "data: {\"type\":\"transcript.text.done\",\"text\":\"Hello there\"}\n\n")));
        upstream.stubFor(post("/v1/images/edits").willReturn(json(EDITED)));
        upstream.stubFor(post("/v1/responses")
                .atPriority(4)
                .withRequestBody(matchingJsonPath("$[?(@.background == true)]"))
                .willReturn(json(RESPONSE.replace("\"status\": \"completed\"", "\"status\": \"queued\""))));
        upstream.stubFor(get(urlPathEqualTo("/v1/responses/resp_bg"))
                .willReturn(json(RESPONSE.replace("\"status\": \"completed\"", "\"status\": \"in_progress\""))));
        upstream.stubFor(get(urlPathEqualTo("/v1/responses/resp_bg"))
                .atPriority(1)
                .withQueryParam("stream", equalTo("true"))
                .willReturn(sse(String.join("", MeteredStreamsHttpTest.responsesStream()))));
        upstream.stubFor(post("/v1/responses/resp_bg/cancel")
                .willReturn(json(RESPONSE.replace("\"status\": \"completed\"", "\"status\": \"cancelled\""))));
        upstream.stubFor(delete("/v1/responses/resp_bg").willReturn(aResponse().withStatus(200)));

        upstream.stubFor(post("/v1/responses")
                .atPriority(10)
                .willReturn(json(RESPONSE).withHeader("x-request-id", "req_node_responses")));
        upstream.stubFor(post("/v1/responses")
                .atPriority(5)
                .withRequestBody(matchingJsonPath("$[?(@.stream == true)]"))
                .willReturn(sse(String.join("", MeteredStreamsHttpTest.responsesStream()))));
    }

    /**
     * The streams proxy's upstream, by the marker in the request: {@code abort} sends two chunks and then
     * keep-alive comments until the proxy lets go; {@code idle} sends two chunks and then nothing; {@code broken}
     * sends two chunks and resets the connection; {@code slow} answers nothing until the control server says so,
     * then keeps sending until the proxy lets go.
     */
    private void streamsAnswer(StubUpstream.Exchange ex) throws Exception {
        String body = ex.request().bodyText();
        String marker = Stream.of("abort", "idle", "broken", "slow")
                .filter(m -> body.contains("\"" + m + "\""))
                .findFirst()
                .orElseThrow(() -> new AssertionError("no marker in " + body));
        held.put(marker, ex);
        Duration longerThanAnyWait = WAIT.multipliedBy(3);
        if (marker.equals("slow")) {
            CountDownLatch release = answerNow.computeIfAbsent(marker, m -> new CountDownLatch(1));
            long deadline = System.nanoTime() + longerThanAnyWait.toNanos();
            while (!release.await(20, TimeUnit.MILLISECONDS) && !ex.peerClosed() && System.nanoTime() < deadline) {
                // held: no headers yet
            }
            if (ex.peerClosed()) {
                return;
            }
        }
        ex.head(200, "Content-Type", "text/event-stream; charset=utf-8", "x-request-id", "req_node_" + marker);
        ex.chunk("data: " + chunk("{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null}", null) + "\n\n");
        ex.chunk("data: " + contentChunk("Hello") + "\n\n");
        switch (marker) {
            case "abort", "slow" -> {
                long deadline = System.nanoTime() + longerThanAnyWait.toNanos();
                while (!ex.awaitPeerClosed(Duration.ofMillis(50)) && System.nanoTime() < deadline) {
                    ex.chunk(": keep-alive\n\n");
                }
            }
            case "idle" -> ex.awaitPeerClosed(longerThanAnyWait);
            default -> {
                Thread.sleep(200); // the two chunks reach the client first
                ex.reset();
            }
        }
    }

    /**
     * The control server the script asks while it runs: {@code GET /closed?marker=M&within=MS} answers whether the
     * proxy closed the streams upstream's call with that marker within that time; {@code GET /answer?marker=M}
     * lets a held call ({@code slow}) start answering.
     */
    private HttpServer startControl() throws IOException {
        HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/", exchange -> {
            Map<String, String> query = new LinkedHashMap<>();
            for (String pair : exchange.getRequestURI().getQuery().split("&")) {
                int eq = pair.indexOf('=');
                query.put(pair.substring(0, eq), pair.substring(eq + 1));
            }
            String marker = query.get("marker");
            Duration within = Duration.ofMillis(Long.parseLong(query.getOrDefault("within", "5000")));
            Map<String, Object> answer = new LinkedHashMap<>();
            try {
                StubUpstream.Exchange call = awaitHeld(marker);
                switch (exchange.getRequestURI().getPath()) {
                    case "/closed" -> {
                        long start = System.nanoTime();
                        answer.put("closed", call != null && call.awaitPeerClosed(within));
                        answer.put("waitedMs", TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
                    }
                    case "/answer" -> {
                        answerNow
                                .computeIfAbsent(marker, m -> new CountDownLatch(1))
                                .countDown();
                        answer.put("answering", call != null);
                    }
                    default -> answer.put("error", "no such control " + exchange.getRequestURI());
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                answer.put("error", "interrupted");
            }
            byte[] body = JSON.writeValueAsBytes(answer);
            exchange.getResponseHeaders().set("Content-Type", "application/json");
            exchange.sendResponseHeaders(200, body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
        server.start();
        return server;
    }

    /** The streams upstream's call with this marker, once it has arrived (null if it does not within WAIT). */
    private StubUpstream.Exchange awaitHeld(String marker) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        StubUpstream.Exchange call = held.get(marker);
        while (call == null && System.nanoTime() < deadline) {
            Thread.sleep(10);
            call = held.get(marker);
        }
        return call;
    }

    /** A chat completion stream as OpenAI sends it, with or without {@code include_usage}. */
    static String chatStream(boolean withUsage) {
        List<String> chunks = new ArrayList<>();
        chunks.add(chunk("{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null}", null));
        for (String p : PIECES) {
            chunks.add(contentChunk(p));
        }
        chunks.add(chunk("{}", "stop"));
        StringBuilder sse = new StringBuilder();
        for (String c : chunks) {
            sse.append("data: ")
                    .append(withUsage ? c.substring(0, c.length() - 1) + ",\"usage\":null}" : c)
                    .append("\n\n");
        }
        if (withUsage) {
            sse.append("data: {\"id\":\"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG\",\"object\":\"chat.completion.chunk\","
                            + "\"created\":1741570283,\"model\":\"")
                    .append(OpenAiFixtures.CHAT_MODEL)
                    .append("\",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_06737a9306\","
                            + "\"choices\":[],\"usage\":")
                    .append(USAGE_JSON)
                    .append("}\n\n");
        }
        return sse.append("data: [DONE]\n\n").toString();
    }

    private static ResponseDefinitionBuilder json(String body) {
        return aResponse()
                .withStatus(200)
                .withHeader("Content-Type", "application/json")
                .withBody(body);
    }

    private static ResponseDefinitionBuilder sse(String body) {
        return aResponse()
                .withStatus(200)
                .withHeader("Content-Type", "text/event-stream; charset=utf-8")
                .withHeader("x-request-id", "req_node_stream")
                .withBody(body);
    }

    private static String base64(float[] floats) {
        ByteBuffer b = ByteBuffer.allocate(floats.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : floats) {
            b.putFloat(f);
        }
        return Base64.getEncoder().encodeToString(b.array());
    }

    private static Float[] boxed(float[] floats) {
        Float[] boxed = new Float[floats.length];
        for (int i = 0; i < floats.length; i++) {
            boxed[i] = floats[i];
        }
        return boxed;
    }

    private List<LoggedRequest> upstreamRequests(String path, Predicate<String> body) {
        return upstream.getAllServeEvents().stream()
                .map(e -> e.getRequest())
                .filter(r -> r.getUrl().equals(path))
                .filter(r -> body.test(r.getBodyAsString()))
                .toList();
    }

    /** The one chat completion request that reached the upstream with this user message. */
    private LoggedRequest onlyUpstreamChat(String content) {
        List<LoggedRequest> found = upstreamRequests("/v1/chat/completions", b -> true).stream()
                .filter(r -> readJson(r.getBodyAsString())
                        .path("messages")
                        .path(0)
                        .path("content")
                        .asText()
                        .equals(content))
                .toList();
        assertThat(found).as("upstream chat requests saying %s", content).hasSize(1);
        return found.get(0);
    }

    private LoggedRequest onlyUpstreamRequest(String path, String bodyPart) {
        List<LoggedRequest> found = upstreamRequests(path, b -> b.contains(bodyPart));
        assertThat(found).as("upstream requests to %s with %s", path, bodyPart).hasSize(1);
        return found.get(0);
    }

    // --- the proxies and node

    private TomcatProxy start(String upstreamUrl, Map<String, String> settings) {
        ProxyConfig config = ProxySettings.from(settings)
                .applyTo(ProxyConfig.builder()
                        .apiKey(SERVER_KEY)
                        .upstream(UpstreamConfig.defaults().withBaseUrl(URI.create(upstreamUrl))))
                .build();
        // The README's host setting for model ids with a slash, which the SDK (5.x and later) sends as %2F.
        TomcatProxy proxy = TomcatProxy.servletAllowingEncodedSlashes(config, arrivals);
        proxies.add(proxy);
        return proxy;
    }

    /**
     * Null when {@code node} and the installed SDK are here; otherwise why not, which skips the tests, or fails
     * them where {@code OPENAI_PROXY_NODE_TESTS=required}.
     */
    private static String whyNodeCannotRun() {
        String version;
        try {
            Process p = new ProcessBuilder("node", "--version")
                    .redirectErrorStream(true)
                    .start();
            version = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            p.waitFor(30, TimeUnit.SECONDS);
        } catch (IOException | InterruptedException e) {
            version = null;
        }
        String missing = null;
        if (version == null || !version.matches("v\\d+\\..*")) {
            missing = "node is not on the PATH (apt-get install nodejs npm)";
        } else if (Integer.parseInt(version.substring(1, version.indexOf('.'))) < 18) {
            missing = "node " + version + " is older than the SDK's Node 18";
        } else if (!Files.isRegularFile(SUITE.resolve("node_modules/openai/package.json"))) {
            missing = "the Node SDK is not installed in " + SUITE.toAbsolutePath()
                    + " (the build runs npm ci there when npm is on the PATH)";
        }
        if (missing != null && "required".equals(System.getenv("OPENAI_PROXY_NODE_TESTS"))) {
            throw new AssertionError("Node SDK tests are required (OPENAI_PROXY_NODE_TESTS=required) but " + missing);
        }
        return missing;
    }

    private JsonNode runNode(String config) throws Exception {
        Path stderr = Files.createTempFile("node-sdk", ".stderr");
        Process p = new ProcessBuilder("node", "sdk-suite.mjs", config)
                .directory(SUITE.toFile())
                .redirectError(stderr.toFile())
                .start();
        p.getOutputStream().close();
        java.util.concurrent.CompletableFuture<byte[]> stdout =
                java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                    try {
                        return p.getInputStream().readAllBytes();
                    } catch (IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                });
        boolean ended = p.waitFor(NODE_LIMIT.toSeconds(), TimeUnit.SECONDS);
        if (!ended) {
            p.destroyForcibly();
        }
        String out = new String(stdout.get(10, TimeUnit.SECONDS), StandardCharsets.UTF_8);
        nodeOutput = "stdout:\n" + out + "\nstderr:\n" + Files.readString(stderr);
        Files.deleteIfExists(stderr);
        assertThat(ended).as("node ended within %s\n%s", NODE_LIMIT, nodeOutput).isTrue();
        assertThat(p.exitValue()).as("node's exit code\n%s", nodeOutput).isZero();
        String last = out.strip().lines().reduce((a, b) -> b).orElse("");
        JsonNode report = JSON.readTree(last);
        JsonNode parsed = report.path("results");
        StringBuilder timings = new StringBuilder("node ")
                .append(report.path("node").asText())
                .append(", openai ")
                .append(report.path("openai").asText())
                .append(", scenarios (ms):");
        parsed.properties()
                .forEach(e -> timings.append(' ')
                        .append(e.getKey())
                        .append('=')
                        .append(e.getValue().path("ms").asLong()));
        System.out.println(timings);
        System.out.println(parsed);
        return parsed;
    }

    /** A scenario's value, failing with what node said when the scenario itself failed. */
    private JsonNode value(String scenario) {
        JsonNode r = results.get(scenario);
        assertThat(r).as("scenario %s ran\n%s", scenario, nodeOutput).isNotNull();
        assertThat(r.path("ok").asBoolean())
                .as("scenario %s: %s", scenario, r.path("error").toPrettyString())
                .isTrue();
        return r.path("value");
    }

    private static JsonNode readJson(String json) {
        try {
            return JSON.readTree(json);
        } catch (IOException e) {
            throw new AssertionError(json, e);
        }
    }

    private static List<String> texts(JsonNode array) {
        List<String> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asText()));
        return out;
    }

    // --- what reached the proxy

    /** One request as it reached the proxy: its scenario, the SDK's retry count, and when. */
    record Arrival(String scenario, String method, String uri, String retryCount, long nanos) {}

    /** In front of the proxy: records every request the SDK made, by its {@code x-test-scenario} header. */
    static final class ScenarioLog implements Filter {
        private final List<Arrival> arrivals = new CopyOnWriteArrayList<>();

        List<Arrival> all() {
            return arrivals;
        }

        List<Arrival> of(String scenario) {
            return arrivals.stream().filter(a -> scenario.equals(a.scenario())).toList();
        }

        @Override
        public void doFilter(ServletRequest req, ServletResponse res, FilterChain chain)
                throws IOException, ServletException {
            HttpServletRequest http = (HttpServletRequest) req;
            arrivals.add(new Arrival(
                    http.getHeader("x-test-scenario"),
                    http.getMethod(),
                    http.getRequestURI(),
                    http.getHeader("x-stainless-retry-count"),
                    System.nanoTime()));
            chain.doFilter(req, res);
        }
    }
}
