package io.github.openaiproxy.demo;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.Headers;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import io.github.openaiproxy.demo.Reply.EventStream;
import io.github.openaiproxy.demo.Reply.JsonReply;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;

/**
 * Authenticates, routes and answers one exchange. Every failure becomes an answer in OpenAI's error shape;
 * nothing a client sends can escape as an exception into the server.
 */
final class DemoHandler implements HttpHandler {
    /** Bodies up to this size are read whole, enough for a chat message carrying a large base64 image. */
    static final int MAX_BODY_BYTES = 32 * 1024 * 1024;

    static final int RATE_LIMIT_REQUESTS = 10_000;
    static final int RATE_LIMIT_TOKENS = 2_000_000;

    private static final System.Logger LOG = System.getLogger(DemoUpstream.class.getName());
    private static final String MODELS = "/v1/models";

    private final SseWriter sseWriter;
    private final AtomicLong requests = new AtomicLong();

    DemoHandler(Duration tokenPause) {
        this.sseWriter = new SseWriter(tokenPause);
    }

    @Override
    public void handle(HttpExchange exchange) {
        long started = System.nanoTime();
        String method = exchange.getRequestMethod();
        // An opaque request target such as "mailto:x" has no path; it is then simply no route.
        String path = Objects.requireNonNullElse(exchange.getRequestURI().getRawPath(), "");
        try {
            Reply reply;
            try {
                reply = answer(exchange, method, path);
            } catch (ApiException e) {
                reply = JsonReply.of(e.error());
            } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "demo upstream failed on " + method + " " + path, e);
                reply = JsonReply.of(ApiError.internal());
            }
            addCommonHeaders(exchange, started);
            send(exchange, reply);
            LOG.log(Level.DEBUG, () -> method + " " + path + " -> " + exchange.getResponseCode());
        } catch (IOException e) {
            // The client went away mid-answer: nobody is left to tell.
            LOG.log(Level.DEBUG, () -> method + " " + path + ": client disconnected: " + e);
        } finally {
            exchange.close();
        }
    }

    private Reply answer(HttpExchange exchange, String method, String path) throws IOException {
        if (!hasBearerToken(exchange.getRequestHeaders().getFirst("Authorization"))) {
            throw ApiError.missingApiKey().exception();
        }
        if (path.equals(MODELS)) {
            requireMethod("GET", method, path);
            return Models.list();
        }
        if (path.startsWith(MODELS + "/") && path.length() > MODELS.length() + 1) {
            requireMethod("GET", method, path);
            String id = exchange.getRequestURI().getPath().substring(MODELS.length() + 1);
            return Models.retrieve(id);
        }
        Function<JsonNode, Reply> endpoint = switch (path) {
            case "/v1/chat/completions" -> ChatCompletions::create;
            case "/v1/responses" -> Responses::create;
            case "/v1/images/generations" -> Images::generate;
            case "/v1/embeddings" -> Embeddings::create;
            default -> null;
        };
        if (endpoint == null) {
            throw ApiError.unknownUrl(method, path).exception();
        }
        requireMethod("POST", method, path);
        return endpoint.apply(readJsonObject(exchange.getRequestBody()));
    }

    /** The demo accepts any key, but like OpenAI it wants one, so a proxy that forgets it is caught. */
    static boolean hasBearerToken(String authorization) {
        return authorization != null
                && authorization.regionMatches(true, 0, "Bearer ", 0, 7)
                && !authorization.substring(7).isBlank();
    }

    private static void requireMethod(String allowed, String method, String path) {
        if (!allowed.equals(method)) {
            throw ApiError.methodNotAllowed(method, path, allowed).exception();
        }
    }

    private static JsonNode readJsonObject(InputStream in) throws IOException {
        byte[] bytes = in.readNBytes(MAX_BODY_BYTES + 1);
        if (bytes.length > MAX_BODY_BYTES) {
            throw ApiError.bodyTooLarge(MAX_BODY_BYTES).exception();
        }
        JsonNode body;
        try {
            body = Json.parse(bytes);
        } catch (IOException e) {
            throw ApiError.invalidJson().exception();
        }
        if (!body.isObject()) {
            throw ApiError.notAnObject().exception();
        }
        return body;
    }

    /** The headers OpenAI sends on every answer, so a proxy's header relay has something to show. */
    private void addCommonHeaders(HttpExchange exchange, long started) {
        Headers h = exchange.getResponseHeaders();
        long count = requests.incrementAndGet();
        h.set("x-demo-upstream", "true");
        h.set("x-request-id", Ids.request());
        h.set("openai-version", "2020-10-01");
        h.set("openai-processing-ms", Long.toString(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started)));
        h.set("x-ratelimit-limit-requests", Integer.toString(RATE_LIMIT_REQUESTS));
        h.set("x-ratelimit-limit-tokens", Integer.toString(RATE_LIMIT_TOKENS));
        // A rolling count, so successive answers show the numbers move as they do upstream.
        h.set(
                "x-ratelimit-remaining-requests",
                Long.toString(RATE_LIMIT_REQUESTS - 1 - (count - 1) % RATE_LIMIT_REQUESTS));
        h.set("x-ratelimit-remaining-tokens", Long.toString(RATE_LIMIT_TOKENS - requestTokens(exchange)));
        h.set("x-ratelimit-reset-requests", "6ms");
        h.set("x-ratelimit-reset-tokens", "0s");
    }

    /** The tokens a request uses against the limit, roughly: a quarter of its declared size in bytes. */
    private static long requestTokens(HttpExchange exchange) {
        try {
            String length = exchange.getRequestHeaders().getFirst("Content-Length");
            return length == null ? 0 : Math.min(RATE_LIMIT_TOKENS, (Long.parseLong(length) + 3) / 4);
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    private void send(HttpExchange exchange, Reply reply) throws IOException {
        Headers h = exchange.getResponseHeaders();
        if (reply instanceof EventStream stream) {
            h.set("Content-Type", "text/event-stream; charset=utf-8");
            h.set("Cache-Control", "no-cache");
            sseWriter.write(exchange, stream.events());
            return;
        }
        JsonReply json = (JsonReply) reply;
        json.headers().forEach(h::set);
        h.set("Content-Type", "application/json");
        // The JDK server sends headers and body as two TCP segments. On a kept-alive connection Nagle's
        // algorithm then holds the body until the client's delayed ACK, about 40 ms per answer; a fresh
        // connection per JSON answer is far cheaper on loopback. Streams are paced anyway.
        h.set("Connection", "close");
        byte[] bytes = Json.bytes(json.body());
        boolean head = exchange.getRequestMethod().equals("HEAD");
        // -1: no body at all, which is what HEAD requires.
        exchange.sendResponseHeaders(json.status(), head ? -1 : bytes.length);
        if (!head) {
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(bytes);
            }
        }
    }
}
