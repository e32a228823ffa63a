package io.github.openaiproxy.core.error;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;

/**
 * The JSON shape errors take. The simple routes answer in the shape of the original Worker proxy; the
 * OpenAI-compatible {@code /v1} routes answer as OpenAI does, so that SDKs raise their typed exceptions.
 */
public enum ErrorStyle {
    /** {@code {"error":"Title","message":"Detail"}} the simple routes' shape (as the original Worker proxy answered). */
    SIMPLE {
        @Override
        public byte[] render(ProxyError e) {
            ObjectNode n = JsonNodeFactory.instance.objectNode();
            n.put("error", e.title());
            n.put("message", e.message());
            if (e.param() != null) {
                n.put("param", e.param());
            }
            if (e.upstreamStatus() != null) {
                n.put("status", e.upstreamStatus());
            }
            return toBytes(n);
        }
    },
    /** {@code {"error":{"message":..,"type":..,"param":..,"code":..}}} as OpenAI's API answers. */
    OPENAI {
        @Override
        public byte[] render(ProxyError e) {
            ObjectNode n = JsonNodeFactory.instance.objectNode();
            ObjectNode err = n.putObject("error");
            err.put("message", e.message());
            err.put("type", e.type());
            err.put("param", e.param());
            err.put("code", e.code());
            return toBytes(n);
        }
    };

    /** Renders the error as UTF-8 JSON. */
    public abstract byte[] render(ProxyError error);

    /**
     * Serializes without the core's mapper in {@code internal}, which depends on this package: Jackson's
     * {@code JsonNode.toString()} writes standard JSON, and these objects hold only strings and ints.
     */
    private static byte[] toBytes(ObjectNode n) {
        return n.toString().getBytes(StandardCharsets.UTF_8);
    }
}
