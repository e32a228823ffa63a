package io.github.openaiproxy.core.testing;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.Map;

/**
 * Assertions on what the proxy answers, in process or over HTTP (servlet-adapter's tests use them too): error
 * shapes, JSON, and that no secret leaks out.
 */
public final class ProxyAssertions {
    private static final ObjectMapper MAPPER = new ObjectMapper();

    private ProxyAssertions() {}

    /** Parses JSON text. */
    public static JsonNode json(String text) {
        try {
            return MAPPER.readTree(text);
        } catch (IOException e) {
            throw new UncheckedIOException("not JSON: " + text, e);
        }
    }

    /**
     * Asserts a JSON error: the status, {@code Content-Type: application/json}, a body that parses as a
     * JSON object and carries no stack trace.
     */
    public static JsonNode assertJsonError(HttpResponse<String> r, int status) {
        assertThat(r.statusCode())
                .as("status of %s, body %s", r.request().uri(), r.body())
                .isEqualTo(status);
        return assertJsonErrorBody(r.headers().firstValue("content-type").orElse(null), r.body());
    }

    /** As {@link #assertJsonError(HttpResponse, int)} for a response read another way: its type and body. */
    public static JsonNode assertJsonErrorBody(String contentType, String body) {
        assertThat(contentType).as("content-type").isNotNull().startsWith("application/json");
        assertNoStackTrace(body);
        JsonNode json = json(body);
        assertThat(json.isObject()).as("error body is a JSON object: %s", body).isTrue();
        return json;
    }

    /**
     * Asserts the seed's error shape {@code {"error":"<title>","message":"..."}} and returns the message.
     */
    public static String assertSeedError(HttpResponse<String> r, int status, String title) {
        return seedMessage(assertJsonError(r, status), title);
    }

    /** Asserts the seed's error shape on a parsed error body and returns the message. */
    public static String seedMessage(JsonNode json, String title) {
        assertThat(json.path("error").isTextual()).as("seed shape: %s", json).isTrue();
        assertThat(json.path("error").textValue()).isEqualTo(title);
        assertThat(json.path("message").isTextual()).as("seed shape: %s", json).isTrue();
        assertThat(json.path("message").textValue()).isNotBlank();
        return json.path("message").textValue();
    }

    /**
     * Asserts OpenAI's error shape {@code {"error":{"message","type","param","code"}}} with the given
     * type and code, and returns the error object.
     */
    public static JsonNode assertOpenAiError(HttpResponse<String> r, int status, String type, String code) {
        return openAiError(assertJsonError(r, status), type, code);
    }

    /** Asserts OpenAI's error shape on a parsed error body and returns the error object. */
    public static JsonNode openAiError(JsonNode json, String type, String code) {
        JsonNode error = json.path("error");
        assertThat(error.isObject()).as("OpenAI shape: %s", json).isTrue();
        assertThat(error.fieldNames()).toIterable().containsExactlyInAnyOrder("message", "type", "param", "code");
        assertThat(error.path("message").textValue()).isNotBlank();
        assertThat(error.path("type").textValue()).isEqualTo(type);
        assertThat(error.path("code").textValue()).isEqualTo(code);
        return error;
    }

    /** Asserts that a body carries no Java stack trace or exception class name. */
    public static void assertNoStackTrace(String body) {
        assertThat(body)
                .doesNotContain("\tat ")
                .doesNotContain("Exception")
                .doesNotContain("java.")
                .doesNotContain("jakarta.")
                .doesNotContain("org.apache");
    }

    /**
     * Asserts that neither the body nor any header value of a response contains a secret, whole or as
     * any 8-character piece (OpenAI echoes keys as a prefix, stars and the last characters).
     */
    public static void assertNoSecrets(HttpResponse<String> r, String... secrets) {
        assertNoSecrets(r.headers().map(), r.body(), secrets);
    }

    /** The same for headers and a body text. */
    public static void assertNoSecrets(Map<String, List<String>> headers, String body, String... secrets) {
        for (String secret : secrets) {
            for (int i = 0; i + 8 <= secret.length(); i++) {
                String piece = secret.substring(i, i + 8);
                assertThat(body).as("response body").doesNotContain(piece);
                headers.forEach((name, values) -> values.forEach(
                        v -> assertThat(name + ": " + v).as("response header").doesNotContain(piece)));
            }
        }
    }
}
