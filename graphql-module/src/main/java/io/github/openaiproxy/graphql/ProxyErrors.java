package io.github.openaiproxy.graphql;

import com.fasterxml.jackson.databind.JsonNode;
import graphql.ErrorClassification;
import graphql.GraphQLError;
import graphql.GraphqlErrorBuilder;
import graphql.schema.DataFetchingEnvironment;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Turns the proxy's error answers into GraphQL errors with a stable {@code extensions.code}:
 *
 * <ul>
 *   <li>{@code BAD_USER_INPUT}: the proxy refused the input (400, 413, 415); {@code extensions.param}
 *       names the field when known
 *   <li>{@code UNAUTHENTICATED}: the upstream refused the key (401)
 *   <li>{@code FORBIDDEN}: {@code x-openai-key} sent while client keys are disabled (403)
 *   <li>{@code NOT_FOUND}: unknown session (404)
 *   <li>{@code UPSTREAM_ERROR}: the upstream answered an error, could not be reached (502) or timed out
 *       (504); {@code extensions.status} is that status
 *   <li>{@code CONFLICT}: an admin change refused because of what is (409: read-only, in use, revoked)
 *   <li>{@code RATE_LIMITED}: a rate limit, a budget or a concurrency cap refused the call (429); {@code
 *       extensions.reason} is REST's code, {@code insufficient_quota} for a budget spent (waiting does not help) and
 *       {@code rate_limit_exceeded} otherwise; {@code extensions.retryAfter} is the seconds to wait when the proxy
 *       said
 *   <li>{@code SERVICE_UNAVAILABLE}: a store failed or is full, the proxy is overloaded, or the upstream cannot
 *       take requests now (503)
 *   <li>{@code INTERNAL_SERVER_ERROR}: no server key configured (500) or another failure of the proxy
 * </ul>
 *
 * <p>The admin fields add {@code extensions.reason}: the REST answer's own code ({@code key_not_found},
 * {@code policy_in_use}, {@code invalid_api_key}, ...).
 *
 * <p>An error of a sub-request adds {@code extensions.requestId}: the {@code x-request-id} its REST answer carries,
 * the proxy's own ({@code req_proxy_...}, named by the proxy's log line about the failure) or the upstream's for an
 * upstream error that came with one. Never the client's own {@code X-Request-Id}, which sub-requests do not carry.
 *
 * <p>Messages are those of the REST answers the sub-requests got, so upstream text is masked exactly as on
 * REST: a fixed message for an upstream 401 or 403, key-shaped tokens masked in other upstream errors.
 */
final class ProxyErrors {
    /** The header the engine names a failed sub-request's answer with (see core's RequestIds). */
    private static final String REQUEST_ID = "x-request-id";

    private ProxyErrors() {}

    /** An error the proxy answered: its code, message and extensions. */
    record Failure(String code, String message, Map<String, Object> extensions) {
        GraphQLError toError(DataFetchingEnvironment env) {
            return GraphqlErrorBuilder.newError(env)
                    .message(message)
                    .errorType(Classification.of(code))
                    .extensions(extensions)
                    .build();
        }
    }

    /** The {@code code} of an error as an error classification, so graphql-java keeps it. */
    record Classification(String code) implements ErrorClassification {
        static Classification of(String code) {
            return new Classification(code);
        }

        @Override
        public Object toSpecification(GraphQLError error) {
            return code;
        }
    }

    static Failure of(String code, String message) {
        Map<String, Object> ext = new LinkedHashMap<>();
        ext.put("code", code);
        return new Failure(code, message, ext);
    }

    static Failure of(String code, String message, String reason) {
        Failure f = of(code, message);
        f.extensions().put("reason", reason);
        return f;
    }

    /**
     * The failure for a non-2xx answer of the admin route (OpenAI-shaped error JSON), with its REST code as
     * {@code extensions.reason}; {@code null} for an answer that is not the admin route's (no route matched).
     */
    static Failure fromAdminReply(SubRequests.Reply reply) {
        JsonNode error = reply.json().path("error");
        if (!error.isObject()
                || !error.path("code").isTextual()
                || !error.path("message").isTextual()) {
            return null;
        }
        String code = switch (reply.status()) {
            case 400, 413, 415 -> "BAD_USER_INPUT";
            case 401 -> "UNAUTHENTICATED";
            case 403 -> "FORBIDDEN";
            case 404 -> "NOT_FOUND";
            case 409 -> "CONFLICT";
            case 503 -> "SERVICE_UNAVAILABLE";
            default -> "INTERNAL_SERVER_ERROR";
        };
        return withRequestId(
                of(code, error.path("message").textValue(), error.path("code").textValue()), reply);
    }

    /** {@code failure} with {@code extensions.requestId}, the reply's {@code x-request-id}, when it has one. */
    static Failure withRequestId(Failure failure, SubRequests.Reply reply) {
        String id = reply.header(REQUEST_ID);
        if (id != null && !id.isBlank()) {
            failure.extensions().put("requestId", id);
        }
        return failure;
    }

    /** The failure for a non-2xx answer of a sub-request (seed-shaped error JSON). */
    static Failure fromReply(SubRequests.Reply reply) {
        JsonNode body = reply.json();
        int status = reply.status();
        String message = body.path("message").isTextual()
                ? body.path("message").textValue()
                : body.path("error").isTextual() ? body.path("error").textValue() : "The proxy answered " + status;
        Map<String, Object> ext = new LinkedHashMap<>();
        String code;
        if (body.path("status").isInt()) {
            int upstream = body.path("status").intValue();
            code = upstream == 401 ? "UNAUTHENTICATED" : "UPSTREAM_ERROR";
            ext.put("code", code);
            ext.put("status", upstream);
        } else {
            code = switch (status) {
                case 400, 413, 415 -> "BAD_USER_INPUT";
                case 401 -> "UNAUTHENTICATED";
                case 403 -> "FORBIDDEN";
                case 404 -> "NOT_FOUND";
                case 429 -> "RATE_LIMITED";
                case 502, 504 -> "UPSTREAM_ERROR";
                case 503 -> "SERVICE_UNAVAILABLE";
                default -> "INTERNAL_SERVER_ERROR";
            };
            ext.put("code", code);
            if (code.equals("UPSTREAM_ERROR")) {
                ext.put("status", status);
            }
            if (status == 429) {
                // The seed shape has no code; a budget's refusal is the one that tells SDKs not to retry.
                ext.put(
                        "reason",
                        "false".equals(reply.header("x-should-retry")) ? "insufficient_quota" : "rate_limit_exceeded");
            }
            String retryAfter = reply.header("Retry-After");
            if ((status == 429 || status == 503)
                    && retryAfter != null
                    && retryAfter.strip().matches("\\d{1,9}")) {
                ext.put("retryAfter", Integer.parseInt(retryAfter.strip())); // seconds, as the REST header says
            }
        }
        if (body.path("param").isTextual()) {
            ext.put("param", body.path("param").textValue());
        }
        return withRequestId(new Failure(code, message, ext), reply);
    }

    /**
     * Adds {@code extensions.code} to the errors graphql-java produced itself: {@code GRAPHQL_PARSE_FAILED}
     * (syntax), {@code GRAPHQL_VALIDATION_FAILED} (unknown fields, wrong variable types, introspection while it is
     * off, ...),
     * {@code QUERY_TOO_COMPLEX} (depth or complexity limit, graphql-java's good-faith introspection limits),
     * {@code INTERNAL_SERVER_ERROR} otherwise.
     */
    @SuppressWarnings("unchecked")
    static void addCodes(Map<String, Object> specification) {
        Object errors = specification.get("errors");
        if (!(errors instanceof List<?> list)) {
            return;
        }
        for (Object e : list) {
            if (!(e instanceof Map<?, ?> raw)) {
                continue;
            }
            Map<String, Object> error = (Map<String, Object>) raw;
            Map<String, Object> ext = error.get("extensions") instanceof Map<?, ?> m
                    ? new LinkedHashMap<>((Map<String, Object>) m)
                    : new LinkedHashMap<>();
            if (!ext.containsKey("code")) {
                Object classification = ext.get("classification");
                String code = "INTERNAL_SERVER_ERROR";
                if ("InvalidSyntax".equals(classification)) {
                    code = "GRAPHQL_PARSE_FAILED";
                } else if ("ValidationError".equals(classification) || "IntrospectionDisabled".equals(classification)) {
                    // Introspection switched off refuses the document, as a validation rule would.
                    code = "GRAPHQL_VALIDATION_FAILED";
                } else if ("ExecutionAborted".equals(classification)
                        || "BadFaithIntrospection".equals(classification)) {
                    // graphql-java's introspection limits (a __schema asked twice, __Type.fields nested) are a cost
                    // limit as ours are.
                    code = "QUERY_TOO_COMPLEX";
                }
                ext.put("code", code);
                error.put("extensions", ext);
            }
        }
    }
}
