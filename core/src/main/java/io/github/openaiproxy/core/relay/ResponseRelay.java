package io.github.openaiproxy.core.relay;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import io.github.openaiproxy.core.error.ErrorStyle;
import io.github.openaiproxy.core.error.ProxyError;
import io.github.openaiproxy.core.flow.IdleWatch;
import io.github.openaiproxy.core.flow.Prefetch;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.internal.Bodies;
import io.github.openaiproxy.core.internal.BodyCollector;
import io.github.openaiproxy.core.internal.HeaderMap;
import io.github.openaiproxy.core.internal.Json;
import io.github.openaiproxy.core.keys.ApiKey;
import io.github.openaiproxy.core.keys.SecretMasker;
import io.github.openaiproxy.core.upstream.UpstreamFailure;
import io.github.openaiproxy.core.upstream.UpstreamResponse;
import java.io.IOException;
import java.net.http.HttpHeaders;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;

/**
 * Turns an upstream answer into the client's: event streams relayed event by event, other successful
 * bodies relayed as bytes, error bodies masked (and, on the simple routes, wrapped in the seed's shape).
 */
public final class ResponseRelay implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(ResponseRelay.class.getName());
    /**
     * Non-streamed JSON bodies up to this size are read whole before the response is committed (exact length,
     * and a clean 502 if the upstream breaks off); longer ones, and other types from their first bytes, are
     * streamed.
     */
    static final int PREFETCH_LIMIT = 256 * 1024;
    /** Upstream error bodies are read up to this size; OpenAI's are a few hundred bytes. */
    static final int MAX_ERROR_BODY = 256 * 1024;
    /** Upstream headers worth passing on: request id, processing time, rate limits and the SDKs' retry hints. */
    private static final List<String> RELAYED = List.of(
            "x-request-id",
            "openai-processing-ms",
            "openai-version",
            "retry-after",
            "retry-after-ms",
            "x-should-retry");

    private final int maxEventSize;
    /** What the unfinished events of all its streams may hold together. */
    private final EventBuffers buffers;

    private final IdleWatch idle;

    /**
     * @param maxEventSize the largest single event relayed
     * @param streamIdleTimeout how long a stream may wait for the upstream's next event (or its first)
     *     before it is ended with an error event; one timer thread serves all streams of this relay
     */
    public ResponseRelay(int maxEventSize, Duration streamIdleTimeout) {
        this.maxEventSize = maxEventSize;
        this.buffers = EventBuffers.forEvents(maxEventSize);
        this.idle = new IdleWatch(streamIdleTimeout);
    }

    /** Stops the idle timer; streams still open are no longer watched. */
    @Override
    public void close() {
        idle.close();
    }

    /**
     * The answer with a {@code gzip} or {@code deflate} coding undone (decoded as its body is read), without that
     * {@code Content-Encoding} and the compressed {@code Content-Length}; any other answer as it is. For what reads
     * an answer before {@link #relay} does (a named upstream's 429 or 400 judged by its body); relaying an answer
     * decoded here decodes nothing twice.
     *
     * @param answer the upstream answer, body unread
     * @return the answer whose body is the decoded bytes
     */
    public static UpstreamResponse decoded(UpstreamResponse answer) {
        return DecodedBody.decoded(answer);
    }

    /**
     * Relays an upstream answer. An event stream that fails before its first event (reset, ended, idle: only
     * comments or half an event came) was never committed: the answer is then the proxy's own error, 502
     * {@code upstream_disconnected} (504 {@code upstream_timeout} when it went idle). Cancelling the future before
     * the first event stops reading the upstream.
     *
     * @param answer the upstream answer, body unread (a gzip or deflate coding is undone here)
     * @param responses the request's response factory (CORS headers, error style)
     * @param key the key that was sent, to mask its echoes
     * @param clientKey whether that key is the client's own ({@code x-openai-key}), for the message of a 401
     * @param expectsStream whether the client asked for a stream on a simple route: then only an event
     *     stream is a successful answer
     */
    public CompletableFuture<ProxyResponse> relay(
            UpstreamResponse answer, ResponseFactory responses, ApiKey key, boolean clientKey, boolean expectsStream) {
        return relay(answer, responses, key, clientKey, expectsStream, false);
    }

    /**
     * As {@link #relay}, except that an event stream that fails before its first event completes the future
     * exceptionally with {@link NoFirstEvent}: nothing of it reached the client, so the caller may try another call
     * (a retry, a fallback). Cancelling the future before the first event stops reading the upstream.
     *
     * @param answer the upstream answer, body unread (a gzip or deflate coding is undone here)
     * @param responses the request's response factory (CORS headers, error style)
     * @param key the key that was sent, to mask its echoes
     * @param clientKey whether that key is the client's own ({@code x-openai-key}), for the message of a 401
     * @param expectsStream whether the client asked for a stream on a simple route: then only an event
     *     stream is a successful answer
     * @return the client's answer, completed once an event stream's first event is ready
     */
    public CompletableFuture<ProxyResponse> relayOrFail(
            UpstreamResponse answer, ResponseFactory responses, ApiKey key, boolean clientKey, boolean expectsStream) {
        return relay(answer, responses, key, clientKey, expectsStream, true);
    }

    private CompletableFuture<ProxyResponse> relay(
            UpstreamResponse answer,
            ResponseFactory responses,
            ApiKey key,
            boolean clientKey,
            boolean expectsStream,
            boolean failBeforeFirstEvent) {
        // Compressed although the proxy asked for identity: gzip and deflate are undone, so that what the proxy reads
        // (events, usage, an error to mask) is readable and the client gets a body it need not have asked to decode.
        UpstreamResponse upstream = DecodedBody.decoded(answer);
        int status = upstream.status();
        if (status >= 400) {
            return relayError(upstream, responses, key, clientKey);
        }
        if (status < 200 || status >= 300) {
            // Redirects and interim answers are not part of the API; never hand a client another location.
            Bodies.discard(upstream.body());
            LOG.log(System.Logger.Level.WARNING, "upstream answered unexpected status {0}", status);
            return CompletableFuture.completedFuture(responses.error(ProxyError.upstreamUnreachable()));
        }
        if (responses.style() == ErrorStyle.SIMPLE
                && !(expectsStream
                        ? HeaderMap.isEventStreamType(upstreamType(upstream))
                        : isJsonOrEventStream(upstream))) {
            // The simple routes promise JSON, or an event stream when one was asked for; anything else (a
            // gateway's HTML page, a server that ignored "stream") is not relayed under the proxy's origin.
            // The /v1 routes relay what the upstream sent.
            Bodies.discard(upstream.body());
            LOG.log(
                    System.Logger.Level.WARNING,
                    "upstream answered {0} with an unexpected content type: {1}",
                    status,
                    upstream.headers().firstValue("content-type").orElse(""));
            return CompletableFuture.completedFuture(responses.error(ProxyError.upstreamUnexpectedContent()));
        }
        String contentType = upstreamType(upstream);
        String encoding = HeaderMap.first(upstream.headers(), "content-encoding");
        if (HeaderMap.isCoded(encoding) && HeaderMap.isEventStreamType(contentType)) {
            // A coding the proxy cannot undo (br, zstd): the events cannot be cut or read, nor the coding kept once
            // they are; relayed as it is, the client would get bytes it cannot read under an event stream's type.
            Bodies.discard(upstream.body());
            LOG.log(System.Logger.Level.WARNING, "upstream answered an event stream coded {0}", encoding);
            return CompletableFuture.completedFuture(responses.error(ProxyError.upstreamUnexpectedContent()));
        }
        HeaderMap h = responses.baseHeaders();
        copyRelayed(upstream.headers(), h);
        if (responses.style() == ErrorStyle.SIMPLE || HeaderMap.first(upstream.headers(), "content-type") != null) {
            // The simple routes promise JSON; a /v1 answer keeps what the upstream declared, nothing included: an
            // empty 200 (DELETE /v1/responses/{id}) labelled JSON is a parse error in the Node SDK.
            h.set("Content-Type", contentType);
        }
        String disposition = HeaderMap.first(upstream.headers(), "content-disposition");
        if (disposition != null && !HeaderMap.isEventStreamType(contentType)) {
            // A file's download (GET /v1/files/{id}/content) names the file as OpenAI sent it.
            h.set("Content-Disposition", disposition);
        }
        if (HeaderMap.isCoded(encoding)) {
            // Asked for none, a server compressed all the same in a coding the proxy does not undo (br): the bytes
            // pass as they are, so the coding with them.
            h.set("Content-Encoding", encoding);
        }
        if (HeaderMap.isEventStreamType(contentType)) {
            h.set("Cache-Control", "no-cache");
            h.set("X-Accel-Buffering", "no");
            SseEventRelay events = new SseEventRelay(upstream.body(), maxEventSize, idle, buffers);
            ProxyResponse stream = new ProxyResponse(status, h.build(), events, true);
            // Nothing is committed before the first event: a stream that breaks before it is a failure before the
            // first byte, which the caller may retry (see NoFirstEvent). The event then goes out on the thread that
            // read it, as before: only the response is handed over later.
            CompletableFuture<Void> first = events.firstEvent();
            CompletableFuture<ProxyResponse> answered = new CompletableFuture<>();
            first.whenComplete((v, e) -> {
                if (e == null) {
                    answered.complete(stream);
                    return;
                }
                NoFirstEvent none = new NoFirstEvent(e);
                if (failBeforeFirstEvent) {
                    answered.completeExceptionally(none);
                } else if (!(e instanceof java.util.concurrent.CancellationException)) {
                    LOG.log(
                            System.Logger.Level.WARNING,
                            "upstream event stream ended before its first event: {0}",
                            e.toString());
                    answered.complete(responses.error(none.error()));
                }
            });
            answered.whenComplete((r, e) -> {
                if (answered.isCancelled()) {
                    first.cancel(false); // the client left while the upstream had sent no event: stop reading it
                }
            });
            return answered;
        }
        // JSON is read whole when small (an exact length, a clean 502 if the upstream breaks off, and what sessions
        // and image storage read); other bodies (speech audio, a file's bytes) start with their first bytes.
        int prefetch = HeaderMap.isJsonType(contentType) ? PREFETCH_LIMIT : 0;
        return Prefetch.read(upstream.body(), prefetch, idle).thenApply(read -> {
            if (read instanceof Prefetch.Outcome.Whole whole) {
                h.set("Content-Length", Integer.toString(whole.bytes().length));
                return ProxyResponse.of(status, h.build(), whole.bytes());
            }
            if (read instanceof Prefetch.Outcome.Broken broken) {
                LOG.log(
                        System.Logger.Level.WARNING,
                        "upstream broke off a response body: {0}",
                        broken.cause().toString());
                return responses.error(
                        broken.cause() instanceof Prefetch.IdleTimeout || UpstreamFailure.isTimeout(broken.cause())
                                ? ProxyError.upstreamTimeout()
                                : ProxyError.upstreamUnreachable());
            }
            String length = HeaderMap.first(upstream.headers(), "content-length");
            if (length != null) {
                h.set("Content-Length", length);
            }
            return new ProxyResponse(status, h.build(), ((Prefetch.Outcome.Longer) read).body(), false);
        });
    }

    /**
     * An upstream event stream that ended, broke or went idle before its first event: status and headers were not
     * sent, so the call failed before the first byte of its answer reached the client.
     */
    public static final class NoFirstEvent extends RuntimeException {
        private static final long serialVersionUID = 1L;

        NoFirstEvent(Throwable cause) {
            super("the upstream event stream ended before its first event", cause, false, false);
        }

        /** Whether the stream went silent (the stream idle timeout, or the connection's idle timeout). */
        public boolean timedOut() {
            Throwable cause = getCause();
            return cause instanceof java.util.concurrent.TimeoutException || UpstreamFailure.isTimeout(cause);
        }

        /** What the client gets when nothing else is tried: 502 {@code upstream_disconnected}, or 504 when idle. */
        public ProxyError error() {
            return timedOut() ? ProxyError.upstreamTimeout() : ProxyError.upstreamDisconnected();
        }
    }

    /**
     * The {@code code} of an OpenAI-shaped error body (else its {@code type}), if it is a short plain word: fit for
     * a log line at INFO, where the message, which may quote the client's text, is not.
     */
    static String errorCode(byte[] raw) {
        try {
            com.fasterxml.jackson.databind.JsonNode error =
                    io.github.openaiproxy.core.internal.Json.parse(raw).path("error");
            String code = error.path("code").asText("");
            String word = !code.isEmpty() ? code : error.path("type").asText("");
            return word.length() <= 64 && word.matches("[A-Za-z0-9_.-]+") ? word : "no code";
        } catch (java.io.IOException | RuntimeException e) {
            return "no code";
        }
    }

    /**
     * An upstream error. 401 and 403 are about the key and echo it: a fixed message in their place. Other
     * errors are relayed masked; they may quote client text (OpenAI's 404 quotes the model), so the masking
     * never depends on the key's content (see {@link SecretMasker}) and two requests that differ only in
     * that text get answers that differ only in it.
     */
    private CompletableFuture<ProxyResponse> relayError(
            UpstreamResponse upstream, ResponseFactory responses, ApiKey key, boolean clientKey) {
        int status = upstream.status();
        return BodyCollector.collectTruncated(upstream.body(), MAX_ERROR_BODY)
                .exceptionally(e -> Bodies.empty())
                .thenApply(raw -> {
                    if (HeaderMap.isCoded(HeaderMap.first(upstream.headers(), "content-encoding"))
                            && status != 401
                            && status != 403) {
                        // Compressed in a coding the proxy does not undo (br): what it says can be neither read nor
                        // masked.
                        LOG.log(System.Logger.Level.INFO, "upstream answered {0} with a compressed error body", status);
                        return wrapped(
                                upstream,
                                responses,
                                ProxyError.upstreamError(status, "The upstream's error body was compressed"));
                    }
                    String text = new String(raw, StandardCharsets.UTF_8);
                    String masked = maskedErrorText(raw, text, key);
                    // The message may quote what the client sent (a prompt, a parameter's value): DEBUG only.
                    LOG.log(System.Logger.Level.INFO, "upstream answered {0} ({1})", status, errorCode(raw));
                    LOG.log(System.Logger.Level.DEBUG, "upstream answered {0}: {1}", status, abbreviate(masked));
                    if (status == 401 || status == 403) {
                        return wrapped(
                                upstream,
                                responses,
                                ProxyError.upstreamKeyRefused(status, clientKey, responses.style()));
                    }
                    String contentType =
                            Objects.requireNonNullElse(HeaderMap.first(upstream.headers(), "content-type"), "");
                    // The seed's routes always wrap; the /v1 routes relay OpenAI's JSON as is, and wrap anything
                    // else (a gateway's HTML page) so SDKs still get an error object they can parse.
                    if (responses.style() == ErrorStyle.SIMPLE
                            || !contentType.toLowerCase(Locale.ROOT).contains("json")) {
                        return wrapped(
                                upstream,
                                responses,
                                ProxyError.upstreamError(
                                        status,
                                        responses.style() == ErrorStyle.SIMPLE ? masked.strip() : abbreviate(masked)));
                    }
                    byte[] body = masked.equals(text) ? raw : masked.getBytes(StandardCharsets.UTF_8);
                    HeaderMap h = responses.baseHeaders();
                    copyRelayed(upstream.headers(), h);
                    h.set("Content-Type", contentType);
                    h.set("Content-Length", Integer.toString(body.length));
                    return ProxyResponse.of(status, h.build(), body);
                });
    }

    /**
     * The error body masked as a client would read it. JSON may spell a key with escapes ({@code \u002d},
     * {@code \/}) that text masking cannot see, so a JSON body's strings are masked decoded, and the body is
     * re-serialized only when that changed something.
     */
    static String maskedErrorText(byte[] raw, String text, ApiKey key) {
        String masked = SecretMasker.mask(text, key);
        if (text.indexOf('\\') < 0) {
            return masked; // no escapes: the text is what a client decodes
        }
        JsonNode tree;
        try {
            tree = Json.parse(raw);
        } catch (IOException | RuntimeException e) {
            return masked;
        }
        return maskStrings(tree, key) ? tree.toString() : masked;
    }

    /** Masks every string value in place; whether any changed. */
    private static boolean maskStrings(JsonNode node, ApiKey key) {
        boolean changed = false;
        if (node instanceof ObjectNode object) {
            for (Map.Entry<String, JsonNode> field : object.properties()) {
                JsonNode value = field.getValue();
                if (value.isTextual()) {
                    String m = SecretMasker.mask(value.textValue(), key);
                    if (!m.equals(value.textValue())) {
                        field.setValue(TextNode.valueOf(m));
                        changed = true;
                    }
                } else {
                    changed |= maskStrings(value, key);
                }
            }
        } else if (node instanceof ArrayNode array) {
            for (int i = 0; i < array.size(); i++) {
                JsonNode value = array.get(i);
                if (value.isTextual()) {
                    String m = SecretMasker.mask(value.textValue(), key);
                    if (!m.equals(value.textValue())) {
                        array.set(i, TextNode.valueOf(m));
                        changed = true;
                    }
                } else {
                    changed |= maskStrings(value, key);
                }
            }
        }
        return changed;
    }

    /** The proxy's own error for an upstream error, with the upstream's status and useful headers. */
    private static ProxyResponse wrapped(UpstreamResponse upstream, ResponseFactory responses, ProxyError error) {
        ProxyResponse answer = responses.error(error);
        HeaderMap h = new HeaderMap().addAll(answer.headers());
        copyRelayed(upstream.headers(), h);
        return new ProxyResponse(upstream.status(), h.build(), answer.body(), false);
    }

    private static void copyRelayed(HttpHeaders from, HeaderMap to) {
        from.map().forEach((name, values) -> {
            String n = name.toLowerCase(Locale.ROOT);
            if (RELAYED.contains(n) || n.startsWith("x-ratelimit-")) {
                values.forEach(v -> to.add(n, v));
            }
        });
    }

    /** JSON ({@code application/json}, {@code application/*+json}), an event stream, or no type at all (read as JSON). */
    private static boolean isJsonOrEventStream(UpstreamResponse upstream) {
        String type = upstreamType(upstream);
        return HeaderMap.isJsonType(type) || HeaderMap.isEventStreamType(type);
    }

    private static String upstreamType(UpstreamResponse upstream) {
        String type = HeaderMap.first(upstream.headers(), "content-type");
        return type != null ? type : ResponseFactory.JSON;
    }

    private static String abbreviate(String s) {
        String oneLine = s.replaceAll("\\s+", " ").strip();
        return oneLine.length() > 300 ? oneLine.substring(0, 300) + "..." : oneLine;
    }
}
