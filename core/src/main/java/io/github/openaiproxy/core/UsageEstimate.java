package io.github.openaiproxy.core;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.openaiproxy.core.access.Policy;
import io.github.openaiproxy.core.error.ProxyError;
import io.github.openaiproxy.core.usage.TokenCounter;
import java.math.BigDecimal;
import java.math.BigInteger;

/**
 * What a request is expected to use before it is sent: its input tokens counted with the model's tokenizer, its
 * output cap, its images. Reserved in the limit store, then settled on the upstream's real usage.
 */
final class UsageEstimate {
    private static final System.Logger LOG = System.getLogger(ProxyEngine.class.getName());

    private UsageEstimate() {}

    /** What the request calls, by its upstream path: what its estimate reads. */
    enum Call {
        CHAT("messages", true),
        COMPLETIONS("prompt", true),
        RESPONSES("input", true),
        EMBEDDINGS("input", true),
        IMAGES("prompt", false), // edits and variations are multipart
        OTHER(null, false);

        /** The field that holds most of the input, named when an estimate can never fit. */
        final String inputField;

        /**
         * Whether the API takes only a JSON body here: read for the limits whatever its declared type, since the
         * upstream reads it as JSON all the same.
         */
        final boolean jsonBody;

        Call(String inputField, boolean jsonBody) {
            this.inputField = inputField;
            this.jsonBody = jsonBody;
        }

        static Call of(String path) {
            return switch (path) {
                case "/v1/chat/completions" -> CHAT;
                case "/v1/completions" -> COMPLETIONS;
                case "/v1/responses" -> RESPONSES;
                case "/v1/embeddings" -> EMBEDDINGS;
                case "/v1/images/generations", "/v1/images/edits", "/v1/images/variations" -> IMAGES;
                default -> OTHER;
            };
        }
    }

    /** The estimate of one request, or the 400 its body gets. */
    record Estimate(long inputTokens, long outputTokens, int images, String outputField, ProxyError error) {
        long tokens() {
            return saturatedAdd(inputTokens, outputTokens);
        }

        /** No estimate: no limit needs one. */
        static final Estimate NONE = new Estimate(0, 0, 0, null, null);

        static Estimate refused(ProxyError error) {
            return new Estimate(0, 0, 0, null, error);
        }
    }

    /**
     * The request's estimate: input tokens by the model's tokenizer, plus the output cap it names (times
     * {@code n}), else the policy's {@code max-tokens}, else {@code limits.default-output-tokens}; images: {@code
     * n}. A cap that is no whole number, or is negative, is a 400; a huge one saturates (and then fits no
     * limit). {@code caller} (the identity) is whose long texts' counts the counter remembers for its next turn.
     */
    static Estimate of(
            Call call,
            ObjectNode body,
            String model,
            Policy policy,
            TokenCounter tokens,
            int defaultOutputTokens,
            String caller) {
        if (call == Call.OTHER) {
            return new Estimate(0, 0, 0, null, null);
        }
        long input = 0;
        if (body != null) {
            try {
                input = Math.max(0, tokens.inputTokens(model, body, caller));
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.DEBUG, "token count failed: {0}", e.toString());
            }
        }
        String[] fields = switch (call) {
            case CHAT -> new String[] {"max_completion_tokens", "max_tokens"};
            case COMPLETIONS -> new String[] {"max_tokens"};
            case RESPONSES -> new String[] {"max_output_tokens"};
            default -> new String[0];
        };
        long output = -1;
        String named = null;
        for (String f : fields) {
            JsonNode v = body == null ? null : body.get(f);
            if (v == null || v.isNull()) {
                continue;
            }
            long n = wholeNumber(v);
            if (n < 0) {
                return Estimate.refused(
                        ProxyError.badRequest("Invalid request", f + " must be a whole number, zero or more", f));
            }
            output = n;
            named = f;
            break;
        }
        if (fields.length > 0 && output < 0) {
            output = policy.maxTokens() != null ? policy.maxTokens() : defaultOutputTokens;
        }
        output = Math.max(0, output);
        int images = 0;
        long n = count(body, "n");
        if (call == Call.CHAT || call == Call.COMPLETIONS) {
            output = saturatedMultiply(output, n);
        } else if (call == Call.IMAGES) {
            images = (int) Math.min(n, Integer.MAX_VALUE);
        }
        return new Estimate(input, output, images, named, null);
    }

    /** A whole number's value (saturated at {@link Long#MAX_VALUE}); -1 for anything else or a negative one. */
    private static long wholeNumber(JsonNode v) {
        if (v.isNumber() && Double.isInfinite(v.doubleValue()) && !v.isIntegralNumber() && !v.isBigDecimal()) {
            return v.doubleValue() > 0 ? Long.MAX_VALUE : -1; // 1e400 read as a double
        }
        if (v.isBigDecimal()) {
            // Judged on its digits and exponent: expanding 1e99999999 (or 1e-99999999) to a BigInteger costs
            // the better part of a minute of CPU, and 1e999999999 throws.
            BigDecimal d = v.decimalValue().stripTrailingZeros();
            if (d.signum() < 0 || d.scale() > 0) {
                return -1;
            }
            return d.precision() - d.scale() > 19 ? Long.MAX_VALUE : saturated(d.toBigInteger());
        }
        if (!v.isIntegralNumber() && !(v.isNumber() && v.doubleValue() == Math.rint(v.doubleValue()))) {
            return -1;
        }
        BigInteger b =
                v.isIntegralNumber() ? v.bigIntegerValue() : v.decimalValue().toBigInteger();
        if (b.signum() < 0) {
            return -1;
        }
        return saturated(b);
    }

    private static long saturated(BigInteger b) {
        return b.bitLength() < 64 ? b.longValue() : Long.MAX_VALUE;
    }

    /** {@code n} (choices or images), 1 when absent or not a positive whole number (the upstream judges it). */
    private static long count(ObjectNode body, String field) {
        JsonNode v = body == null ? null : body.get(field);
        long n = v == null ? -1 : wholeNumber(v);
        return n < 1 ? 1 : n;
    }

    static long saturatedAdd(long a, long b) {
        long r = a + b;
        return ((a ^ r) & (b ^ r)) < 0 ? Long.MAX_VALUE : r;
    }

    static long saturatedMultiply(long a, long b) {
        long hi = Math.multiplyHigh(a, b);
        long lo = a * b;
        return (hi == 0 && lo >= 0) ? lo : Long.MAX_VALUE;
    }
}
