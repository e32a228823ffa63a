package io.github.openaiproxy.core.error;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.openaiproxy.core.internal.Json;

/**
 * The JSON shape errors take. The simple routes answer in the shape of the original Worker proxy; the
 * OpenAI-compatible {@code /v1} routes answer as OpenAI does, so that SDKs raise their typed exceptions.
 */
public enum ErrorStyle {
    /** {@code {"error":"Title","message":"Detail"}} as documented by the seed README. */
    SEED {
        @Override
        public byte[] render(ProxyError e) {
            ObjectNode n = Json.object();
            n.put("error", e.title());
            n.put("message", e.message());
            if (e.param() != null) {
                n.put("param", e.param());
            }
            if (e.upstreamStatus() != null) {
                n.put("status", e.upstreamStatus());
            }
            return Json.bytes(n);
        }
    },
    /** {@code {"error":{"message":..,"type":..,"param":..,"code":..}}} as OpenAI's API answers. */
    OPENAI {
        @Override
        public byte[] render(ProxyError e) {
            ObjectNode n = Json.object();
            ObjectNode err = n.putObject("error");
            err.put("message", e.message());
            err.put("type", e.type());
            err.put("param", e.param());
            err.put("code", e.code());
            return Json.bytes(n);
        }
    };

    /** Renders the error as UTF-8 JSON. */
    public abstract byte[] render(ProxyError error);
}
