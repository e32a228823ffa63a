package io.github.openaiproxy.demo;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Map;
import java.util.Objects;

/**
 * An error in OpenAI's shape: {@code {"error":{"message","type","param","code"}}}, with its HTTP status.
 *
 * @param status the HTTP status
 * @param message a sentence for humans
 * @param type OpenAI's error type, for example {@code invalid_request_error}
 * @param param the request field at fault, or {@code null}
 * @param code a machine-readable code, or {@code null} where OpenAI sends none
 * @param headers extra response headers, for example {@code Allow}
 */
record ApiError(int status, String message, String type, String param, String code, Map<String, String> headers) {

    ApiError {
        Objects.requireNonNull(message, "message");
        Objects.requireNonNull(type, "type");
        headers = Map.copyOf(headers);
    }

    static ApiError invalidRequest(String message, String param, String code) {
        return new ApiError(400, message, "invalid_request_error", param, code, Map.of());
    }

    static ApiError missingParameter(String param) {
        return invalidRequest("Missing required parameter: '" + param + "'.", param, "missing_required_parameter");
    }

    /** OpenAI answers an unparsable body with type and nothing else: no param, no code. */
    static ApiError invalidJson() {
        return invalidRequest(
                "We could not parse the JSON body of your request. The demo upstream, like the OpenAI API,"
                        + " expects a JSON payload, but what was sent was not valid JSON.",
                null,
                null);
    }

    static ApiError notAnObject() {
        return invalidRequest("The request body must be a JSON object.", null, null);
    }

    static ApiError missingApiKey() {
        return new ApiError(
                401,
                "You didn't provide an API key. You need to provide your API key in an Authorization header using"
                        + " Bearer auth (i.e. Authorization: Bearer YOUR_KEY). The demo upstream accepts any"
                        + " non-empty key.",
                "invalid_request_error",
                null,
                null,
                Map.of());
    }

    /** OpenAI's wording for an unknown path, which names the method and path. */
    static ApiError unknownUrl(String method, String path) {
        return new ApiError(
                404,
                "Invalid URL (" + clip(method, 20) + " " + clip(path, 200) + ")",
                "invalid_request_error",
                null,
                null,
                Map.of());
    }

    static ApiError methodNotAllowed(String method, String path, String allow) {
        return new ApiError(
                405,
                "Method " + clip(method, 20) + " is not allowed for " + clip(path, 200) + "; use " + allow + ".",
                "invalid_request_error",
                null,
                null,
                Map.of("Allow", allow));
    }

    static ApiError modelNotFound(String model) {
        return new ApiError(
                404,
                "The model '" + clip(model, 200) + "' does not exist",
                "invalid_request_error",
                "model",
                "model_not_found",
                Map.of());
    }

    static ApiError bodyTooLarge(int limit) {
        return new ApiError(
                413,
                "The request body exceeds the demo upstream's limit of " + limit + " bytes.",
                "invalid_request_error",
                null,
                null,
                Map.of());
    }

    static ApiError internal() {
        return new ApiError(
                500, "The demo upstream failed to handle the request.", "server_error", null, null, Map.of());
    }

    ApiException exception() {
        return new ApiException(this);
    }

    ObjectNode toJson() {
        ObjectNode error = Json.object();
        error.put("message", message);
        error.put("type", type);
        error.put("param", param);
        error.put("code", code);
        ObjectNode root = Json.object();
        root.set("error", error);
        return root;
    }

    /** Request text echoed in a message is cut, so a huge path cannot make a huge error. */
    private static String clip(String s, int max) {
        return s.length() <= max ? s : s.substring(0, max) + "...";
    }
}
