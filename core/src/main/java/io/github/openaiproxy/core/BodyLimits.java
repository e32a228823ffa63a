package io.github.openaiproxy.core;

import io.github.openaiproxy.core.internal.HeaderMap;
import io.github.openaiproxy.core.route.RouteKind;
import java.util.Locale;

/**
 * Which size limit a request's body is held to. A body the proxy may read or parse (JSON on any route, whatever a
 * step needs whole) is held to {@code max-body-size}: a 500 MB JSON body would cost its tree. An upload, a body the
 * proxy only streams to the upstream and never reads, is held to the larger {@code max-upload-size}, counted as it
 * passes, so OpenAI's files (512 MB) and audio (25 MB) go through without raising what a JSON body may be.
 *
 * @param body {@code max-body-size}, in bytes
 * @param upload {@code max-upload-size}, never below {@code body}
 */
record BodyLimits(long body, long upload) {
    BodyLimits {
        if (body < 1 || upload < body) {
            throw new IllegalArgumentException("limits must be positive, the upload's no lower than the body's");
        }
    }

    static BodyLimits of(ProxyConfig config) {
        return new BodyLimits(config.maxBodySize(), config.maxUploadSize());
    }

    /**
     * The limit of this request's body as it streams to the upstream or is checked from its declared length: the
     * upload limit for an upload, else the body limit (a module route's own when smaller).
     */
    long of(RequestContext ctx) {
        return isUpload(ctx) ? upload : RouteHandlers.bodyLimit(ctx, body);
    }

    /**
     * Whether the body is an upload: declared with a type that is not JSON ({@code multipart/form-data}, {@code
     * application/octet-stream}, ...), on a pass-through route that does not take JSON. No step parses such a body:
     * the JSON routes' bodies (the default routes, and chat, completions, responses, embeddings however they are
     * declared) are read as JSON by the limits whatever their type, and an undeclared type may be JSON.
     */
    static boolean isUpload(RequestContext ctx) {
        if (ctx.route == null
                || ctx.route.kind() != RouteKind.PASS_THROUGH
                || ctx.route.requiresJson()
                || UsageEstimate.Call.of(ctx.route.template()).jsonBody) {
            return false;
        }
        // As RequestChecks.isReadableJson judges JSON (any type naming json), so no body one of them reads is an
        // upload.
        String type = HeaderMap.first(ctx.request.headers(), "content-type");
        return type != null && !type.toLowerCase(Locale.ROOT).contains("json");
    }
}
