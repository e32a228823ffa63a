package io.github.openaiproxy.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.internal.Bodies;
import io.github.openaiproxy.core.internal.BodyCollector;
import io.github.openaiproxy.core.internal.HeaderMap;
import io.github.openaiproxy.core.testing.Answer;
import io.github.openaiproxy.core.testing.SeededCases;
import io.github.openaiproxy.core.upstream.UpstreamClient;
import io.github.openaiproxy.core.upstream.UpstreamRequest;
import io.github.openaiproxy.core.upstream.UpstreamResponse;
import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Flow;
import org.junit.jupiter.api.Test;

/**
 * Seeded differential fuzzing of the multipart scan that routes uploads by their {@code model} field: random
 * boundaries (quoted, with the odd characters RFC 2046 allows), preambles, transport padding, header case, part
 * order, file contents with near-miss delimiters, read whole, by prefixes and in random pieces; what the scan and
 * the reader find must equal a reference parse of the whole body (a delimiter is {@code --boundary} at a line's
 * start followed by optional padding and CRLF, or by {@code --}, as Go's and Python's parsers read it). {@code
 * -Dfuzz.seed=...} replays a run, {@code -Dfuzz.cases=...} runs more.
 */
class MultipartScanFuzzTest {
    private static final int CASES = 400;
    private static final int ENGINE_CASES = 100;
    private static final String BCHARS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=? ";

    @Test
    void theScanAndTheReaderFindWhatAReferenceParseFinds() {
        SeededCases.run("multipart fuzz", CASES, MultipartScanFuzzTest::oneCase);
    }

    /** The case that found near misses read as delimiters (a part's content {@code --boundary} + a letter). */
    @Test
    void seed37494313962825() {
        oneCase(37494313962825L);
    }

    @Test
    void theEngineRoutesUploadsByTheReferenceModelAndSendsTheirBytesAsTheyCame() throws Exception {
        Recording upstream = new Recording();
        Map<String, String> s = new HashMap<>();
        s.put("pass-through-routes", "POST /v1/audio/transcriptions");
        s.put("upstreams.a.kind", "compatible");
        s.put("upstreams.a.base-url", "https://a.example/v1");
        s.put("upstreams.a.keys", "a-key-0123456789abcdef");
        s.put("upstreams.a.models", "whisper-1");
        s.put("upstreams.b.kind", "compatible");
        s.put("upstreams.b.base-url", "https://b.example/v1");
        s.put("upstreams.b.keys", "b-key-0123456789abcdef");
        s.put("upstreams.b.models", "gpt-4o-transcribe");
        try (ProxyEngine engine = ProxyEngine.builder(ProxySettings.from(s)
                        .applyTo(EngineFixture.config(URI.create("http://127.0.0.1:9")))
                        .build())
                .upstreamClient(upstream)
                .build()) {
            SeededCases.run("multipart engine", ENGINE_CASES, seed -> engineCase(engine, upstream, seed));
        }
    }

    private static void engineCase(ProxyEngine engine, Recording upstream, long seed) throws Exception {
        Random r = new Random(seed);
        String boundary = boundary(r);
        byte[] body = body(r, boundary);
        Reference ref = Reference.parse(body, boundary);
        String model = ref.anywhere == null ? null : ref.anywhere.value;
        String host =
                "whisper-1".equals(model) ? "a.example" : "gpt-4o-transcribe".equals(model) ? "b.example" : "127.0.0.1";
        ProxyRequest.Builder request = ProxyRequest.builder("POST", "/v1/audio/transcriptions")
                .header("Content-Type", "multipart/form-data; boundary=\"" + boundary + "\"")
                .body(pieces(r, body));
        if (r.nextBoolean()) {
            request.header("Content-Length", Integer.toString(body.length));
        }
        upstream.sent.clear();
        Answer a = EngineFixture.send(engine, request);
        String context = "boundary [" + boundary + "] body:\n" + new String(body, StandardCharsets.ISO_8859_1);
        assertThat(a.status()).as("%s; %s", a.text(), context).isEqualTo(200);
        assertThat(upstream.sent).as(context).hasSize(1);
        Sent sent = upstream.sent.get(0);
        assertThat(sent.host).as("the upstream of model %s; %s", model, context).isEqualTo(host);
        assertThat(sent.body).as("the bytes sent on; %s", context).isEqualTo(body);
    }

    /** The body as a request publisher of random pieces. */
    private static Flow.Publisher<ByteBuffer> pieces(Random r, byte[] body) {
        List<ByteBuffer> pieces = new ArrayList<>();
        for (int at = 0; at < body.length; ) {
            int n = 1 + r.nextInt(Math.min(body.length - at, 100));
            pieces.add(ByteBuffer.wrap(Arrays.copyOfRange(body, at, at + n)));
            at += n;
        }
        return subscriber -> subscriber.onSubscribe(new Flow.Subscription() {
            private int next;
            private boolean done;
            private boolean emitting;
            private long demand;

            @Override
            public synchronized void request(long n) {
                demand = demand + n < 0 ? Long.MAX_VALUE : demand + n;
                if (emitting) {
                    return;
                }
                emitting = true;
                try {
                    while (!done && demand > 0 && next < pieces.size()) {
                        demand--;
                        subscriber.onNext(pieces.get(next++));
                    }
                    if (!done && next == pieces.size()) {
                        done = true;
                        subscriber.onComplete();
                    }
                } finally {
                    emitting = false;
                }
            }

            @Override
            public synchronized void cancel() {
                done = true;
            }
        });
    }

    private record Sent(String host, byte[] body) {}

    /** Every upstream: reads the request's body to its end and answers 200 with a JSON transcription. */
    private static final class Recording implements UpstreamClient {
        final List<Sent> sent = new java.util.concurrent.CopyOnWriteArrayList<>();

        @Override
        public CompletableFuture<UpstreamResponse> send(UpstreamRequest request) {
            CompletableFuture<byte[]> body = request.streamedBody() == null
                    ? CompletableFuture.completedFuture(request.body())
                    : BodyCollector.collect(request.streamedBody().publisher(), Long.MAX_VALUE);
            return body.thenApply(b -> {
                sent.add(new Sent(request.uri().getHost(), b));
                return new UpstreamResponse(
                        200,
                        new HeaderMap().set("Content-Type", "application/json").build(),
                        Bodies.responseOf("{\"text\":\"ok\"}".getBytes(StandardCharsets.UTF_8)));
            });
        }

        @Override
        public UpstreamClient withTimeouts(Duration connect, Duration response) {
            return this;
        }

        @Override
        public void close() {}
    }

    private static void oneCase(long seed) {
        Random r = new Random(seed);
        String boundary = boundary(r);
        String type = "multipart/form-data; boundary="
                + (r.nextBoolean() || boundary.matches(".*[ '(),/:=?].*") ? "\"" + boundary + "\"" : boundary);
        MultipartModel form = MultipartModel.of(type).orElseThrow(() -> new AssertionError("no boundary in " + type));
        assertThat(form.boundary()).isEqualTo(boundary);
        byte[] body = body(r, boundary);
        Reference ref = Reference.parse(body, boundary);
        String context = "boundary [" + boundary + "] body:\n" + new String(body, StandardCharsets.ISO_8859_1);

        MultipartModel.Result whole = form.scan(body, body.length);
        MultipartModel.Result expected = ref.beforeFile == null
                ? (ref.complete ? new MultipartModel.None() : new MultipartModel.More())
                : new MultipartModel.Found(ref.beforeFile.value, ref.beforeFile.start, ref.beforeFile.end);
        if (!(expected instanceof MultipartModel.More)) {
            assertThat(whole).as("scan of the whole body; %s", context).isEqualTo(expected);
        } else {
            assertThat(whole).as("scan of the whole body; %s", context).isNotInstanceOf(MultipartModel.Found.class);
        }
        for (int k = 0; k < 5; k++) {
            int prefix = r.nextInt(body.length + 1);
            MultipartModel.Result part = form.scan(body, prefix);
            if (!(part instanceof MultipartModel.More)) {
                assertThat(part).as("scan of %s bytes; %s", prefix, context).isEqualTo(whole);
            }
        }

        MultipartModel.Reader reader = form.reader();
        MultipartModel.Result read = new MultipartModel.More();
        int at = 0;
        while (at < body.length && read instanceof MultipartModel.More) {
            int n = 1 + r.nextInt(Math.min(body.length - at, r.nextBoolean() ? 3 : 200));
            read = reader.read(body, at, n);
            at += n;
        }
        if (ref.anywhere != null) {
            assertThat(read)
                    .as("reader in pieces; %s", context)
                    .isEqualTo(new MultipartModel.FoundAt(ref.anywhere.value, ref.anywhere.start, ref.anywhere.end));
        } else {
            assertThat(read).as("reader in pieces; %s", context).isNotInstanceOf(MultipartModel.FoundAt.class);
        }
    }

    /** 1 to 70 characters of RFC 2046's bchars, not ending with a space. */
    private static String boundary(Random r) {
        int n = 1 + (r.nextInt(4) == 0 ? r.nextInt(70) : r.nextInt(30));
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < n; i++) {
            b.append(BCHARS.charAt(r.nextInt(r.nextBoolean() ? 10 : BCHARS.length())));
        }
        if (b.charAt(b.length() - 1) == ' ') {
            b.setCharAt(b.length() - 1, 'z');
        }
        return b.toString();
    }

    private static byte[] body(Random r, String boundary) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        if (r.nextInt(3) == 0) {
            write(out, "a preamble, ignored\r\n" + (r.nextBoolean() ? "--" + boundary + "X nearly\r\n" : ""));
        }
        int parts = 1 + r.nextInt(5);
        for (int p = 0; p < parts; p++) {
            write(out, (p == 0 && out.size() == 0 ? "" : "\r\n") + "--" + boundary + padding(r) + "\r\n");
            String[] names = {"model", "model", "purpose", "language", "prompt", "file"};
            String name = names[r.nextInt(names.length)];
            boolean file = name.equals("file") || r.nextInt(6) == 0;
            String cd = r.nextBoolean()
                    ? "Content-Disposition"
                    : r.nextBoolean() ? "content-disposition" : "CONTENT-DISPOSITION";
            String nameParam = "name=" + (r.nextInt(4) == 0 ? name : "\"" + name + "\"");
            if (r.nextInt(4) == 0) {
                write(out, "Content-Type: " + (file ? "application/octet-stream" : "text/plain") + "\r\n");
            }
            if (file) {
                write(
                        out,
                        cd + ": form-data; "
                                + (r.nextBoolean()
                                        ? nameParam + "; filename=\"a.bin\""
                                        : "filename=\"a.bin\"; " + nameParam)
                                + "\r\n");
            } else {
                write(out, cd + ": form-data; " + nameParam + "\r\n");
            }
            if (r.nextInt(4) == 0) {
                write(out, "X-Extra: 1\r\n");
            }
            write(out, "\r\n");
            if (file) {
                byte[] content = new byte[r.nextInt(300)];
                r.nextBytes(content);
                out.writeBytes(content);
            } else {
                write(out, value(r, name));
            }
            if (r.nextInt(3) == 0) {
                // A near miss: the boundary at a line's start, not followed by padding and CRLF or by "--".
                write(out, "\r\n--" + boundary + (char) ('A' + r.nextInt(26)) + "tail");
            }
        }
        if (r.nextInt(8) != 0) {
            write(out, "\r\n--" + boundary + "--" + (r.nextBoolean() ? "\r\nan epilogue" : "\r\n"));
        }
        return out.toByteArray();
    }

    private static String padding(Random r) {
        return r.nextInt(5) == 0 ? " \t ".substring(0, 1 + r.nextInt(3)) : "";
    }

    private static String value(Random r, String name) {
        if (name.equals("model")) {
            String[] models = {"whisper-1", "gpt-4o-transcribe", "gpt-image-1", "dall-e-2", "m\u00e9", ""};
            return models[r.nextInt(models.length)];
        }
        return r.nextBoolean() ? "en" : "some text\r\nover lines -- with dashes";
    }

    private static void write(ByteArrayOutputStream out, String s) {
        out.writeBytes(s.getBytes(StandardCharsets.UTF_8));
    }

    /** A model field's value and where it is. */
    private record Field(String value, int start, int end) {}

    /**
     * A plain whole-body parse: the first model field before any file part, the first anywhere, and whether the
     * body closes.
     */
    private record Reference(Field beforeFile, Field anywhere, boolean complete) {
        static Reference parse(byte[] body, String boundary) {
            byte[] dash = ("--" + boundary).getBytes(StandardCharsets.ISO_8859_1);
            // Every delimiter: at the body's start or after CRLF, then padding and CRLF, or "--".
            List<int[]> delimiters = new ArrayList<>(); // {start of the CRLF or body, end of the line, close?}
            for (int i = 0; i + dash.length <= body.length; i++) {
                boolean lineStart = i == 0 || (i >= 2 && body[i - 2] == '\r' && body[i - 1] == '\n');
                if (!lineStart || !matches(body, i, dash)) {
                    continue;
                }
                int j = i + dash.length;
                if (j + 1 < body.length && body[j] == '-' && body[j + 1] == '-') {
                    delimiters.add(new int[] {i == 0 ? 0 : i - 2, j + 2, 1});
                    break;
                }
                while (j < body.length && (body[j] == ' ' || body[j] == '\t')) {
                    j++;
                }
                if (j + 1 < body.length && body[j] == '\r' && body[j + 1] == '\n') {
                    delimiters.add(new int[] {i == 0 ? 0 : i - 2, j + 2, 0});
                }
            }
            Field before = null;
            Field anywhere = null;
            boolean fileSeen = false;
            boolean complete = false;
            for (int d = 0; d < delimiters.size(); d++) {
                int[] open = delimiters.get(d);
                if (open[2] == 1) {
                    complete = true;
                    break;
                }
                if (d + 1 == delimiters.size()) {
                    break; // a part that does not end
                }
                int partEnd = delimiters.get(d + 1)[0];
                String part = new String(body, open[1], partEnd - open[1], StandardCharsets.ISO_8859_1);
                int blank = part.startsWith("\r\n") ? 0 : part.indexOf("\r\n\r\n");
                if (blank < 0) {
                    break;
                }
                String headers = part.substring(0, blank);
                int valueStart = open[1] + blank + (blank == 0 ? 2 : 4);
                String name = null;
                boolean file = false;
                for (String line : headers.split("\r\n")) {
                    if (line.toLowerCase(java.util.Locale.ROOT).startsWith("content-disposition:")) {
                        for (String param :
                                line.substring(line.indexOf(':') + 1).split(";")) {
                            String[] kv = param.strip().split("=", 2);
                            if (kv.length == 2 && kv[0].equals("name")) {
                                name = kv[1].replace("\"", "");
                            } else if (kv.length == 2 && kv[0].equals("filename")) {
                                file = true;
                            }
                        }
                    }
                }
                if (file) {
                    fileSeen = true;
                } else if ("model".equals(name)) {
                    Field f = new Field(
                            new String(body, valueStart, partEnd - valueStart, StandardCharsets.UTF_8),
                            valueStart,
                            partEnd);
                    if (anywhere == null) {
                        anywhere = f;
                    }
                    if (before == null && !fileSeen) {
                        before = f;
                    }
                }
            }
            return new Reference(before, anywhere, complete || (before == null && fileSeen));
        }

        private static boolean matches(byte[] body, int at, byte[] what) {
            for (int k = 0; k < what.length; k++) {
                if (body[at + k] != what[k]) {
                    return false;
                }
            }
            return true;
        }
    }
}
