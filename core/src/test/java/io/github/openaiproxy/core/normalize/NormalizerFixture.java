package io.github.openaiproxy.core.normalize;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.openaiproxy.core.error.ProxyError;
import io.github.openaiproxy.core.internal.Json;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.function.Function;

/** Runs a normalizer on JSON text and unpacks the outcome. */
final class NormalizerFixture {
    private final Function<ObjectNode, Normalized> normalizer;

    NormalizerFixture(Function<ObjectNode, Normalized> normalizer) {
        this.normalizer = normalizer;
    }

    static ObjectNode json(String text) {
        try {
            return (ObjectNode) Json.parse(text.getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    Normalized normalize(String body) {
        return normalizer.apply(json(body));
    }

    Normalized.Accepted accepted(String body) {
        Normalized n = normalize(body);
        assertThat(n).as("outcome for %s", body).isInstanceOf(Normalized.Accepted.class);
        return (Normalized.Accepted) n;
    }

    ObjectNode body(String body) {
        return accepted(body).body();
    }

    ProxyError rejected(String body) {
        Normalized n = normalize(body);
        assertThat(n).as("outcome for %s", body).isInstanceOf(Normalized.Rejected.class);
        ProxyError error = ((Normalized.Rejected) n).error();
        assertThat(error.status()).isEqualTo(400);
        return error;
    }
}
