package io.github.openaiproxy.core;

import io.github.openaiproxy.core.http.ProxyResponse;
import java.util.HexFormat;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The {@code x-request-id} of the answers the proxy makes itself, so a caller holding an SDK error (openai-java and
 * the Node SDK read the header into the exception) can find the proxy's log line for it. The id is 128 random bits,
 * derived from nothing about the request: never from a key, and never the client's own {@code x-request-id}, which
 * could forge log lines or smuggle header text. An upstream's answer keeps the upstream's id, untouched; a relayed
 * success without one gets none (no work on that path).
 */
final class RequestIds {
    static final String HEADER = "x-request-id";
    /** Tells the proxy's ids from OpenAI's ({@code req_} and 32 hex digits) in a support ticket. */
    static final String PREFIX = "req_proxy_";
    /** Lower-case hex, 16 digits a long, leading zeros kept. */
    private static final HexFormat HEX = HexFormat.of();

    private RequestIds() {}

    /** A new id: not secret, so a cheap random does; unique enough to find one line in a log. */
    static String next() {
        ThreadLocalRandom random = ThreadLocalRandom.current();
        return PREFIX + HEX.toHexDigits(random.nextLong()) + HEX.toHexDigits(random.nextLong());
    }

    /**
     * The answer with the request's id when the proxy made it (nothing relayed, or an error of its own in place of
     * the upstream's answer) and it carries none; else the answer as it is.
     */
    static ProxyResponse mark(RequestContext ctx, ProxyResponse answer) {
        if (ctx.upstreamStatus != 0 && answer.status() < 400) {
            return answer; // the upstream's answer: its own id, or none
        }
        if (answer.headers().firstValue(HEADER).isPresent()) {
            return answer; // an upstream error the proxy wrapped keeps the upstream's id
        }
        return answer.withHeader(HEADER, ctx.requestId());
    }
}
