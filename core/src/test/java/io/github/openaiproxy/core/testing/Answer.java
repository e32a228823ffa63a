package io.github.openaiproxy.core.testing;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.testsupport.BodyReader;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.http.HttpHeaders;
import java.util.List;

/** What a client received from the engine: status, headers, and the body read to its end. */
public record Answer(int status, HttpHeaders headers, boolean streaming, BodyReader.Body body) {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Reads the whole response. */
    public static Answer of(ProxyResponse response) {
        return new Answer(
                response.status(), response.headers(), response.streaming(), BodyReader.read(response.body()));
    }

    public String header(String name) {
        return headers.firstValue(name).orElse(null);
    }

    public String text() {
        return body.text();
    }

    public List<String> items() {
        return body.itemTexts();
    }

    public JsonNode json() {
        try {
            return JSON.readTree(body.bytes());
        } catch (IOException e) {
            throw new UncheckedIOException("not JSON: " + text(), e);
        }
    }

    /** Asserts a JSON error answer the proxy wrote itself and returns its body. */
    public JsonNode proxyError(int expectedStatus) {
        assertThat(status).as("status of %s", text()).isEqualTo(expectedStatus);
        assertThat(header("Content-Type")).isEqualTo("application/json");
        assertThat(header("Content-Length")).isEqualTo(Integer.toString(body.bytes().length));
        return json();
    }

    /** Parses JSON text, for comparing with {@link #json()} or a recorded upstream body. */
    public static JsonNode parse(String json) {
        try {
            return JSON.readTree(json);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
