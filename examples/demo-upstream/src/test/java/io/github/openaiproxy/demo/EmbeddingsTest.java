package io.github.openaiproxy.demo;

import static io.github.openaiproxy.demo.HttpTestClient.json;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Base64;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class EmbeddingsTest {
    static DemoUpstream upstream;
    static HttpTestClient http;

    @BeforeAll
    static void start() {
        upstream = DemoUpstream.start();
        http = new HttpTestClient(upstream);
    }

    @AfterAll
    static void stop() {
        upstream.close();
    }

    @Test
    void answersAListOfUnitVectorsOfTheModelsSize() {
        JsonNode body = json(http.post("/v1/embeddings", "{\"model\":\"text-embedding-3-small\",\"input\":\"hello\"}"));

        assertThat(body.get("object").asText()).isEqualTo("list");
        assertThat(body.get("model").asText()).isEqualTo("text-embedding-3-small");
        JsonNode item = body.at("/data/0");
        assertThat(item.get("object").asText()).isEqualTo("embedding");
        assertThat(item.get("index").asInt()).isZero();
        float[] vector = floats(item.get("embedding"));
        assertThat(vector).hasSize(1536);
        double norm = 0;
        for (float v : vector) {
            norm += v * v;
        }
        assertThat(Math.sqrt(norm)).isCloseTo(1.0, within(1e-4));
        assertThat(body.at("/usage/prompt_tokens").asInt()).isPositive();
        assertThat(body.at("/usage/total_tokens")).isEqualTo(body.at("/usage/prompt_tokens"));
    }

    @Test
    void givesEqualInputsEqualVectorsAndHonoursDimensions() {
        String request = "{\"model\":\"text-embedding-3-small\",\"dimensions\":8,\"input\":[\"a\",\"b\",\"a\"]}";
        JsonNode first = json(http.post("/v1/embeddings", request));
        JsonNode second = json(http.post("/v1/embeddings", request));

        assertThat(first.get("data")).hasSize(3);
        for (int i = 0; i < 3; i++) {
            assertThat(first.at("/data/" + i + "/index").asInt()).isEqualTo(i);
            assertThat(first.at("/data/" + i + "/embedding")).hasSize(8);
        }
        assertThat(first.at("/data/0/embedding")).isEqualTo(first.at("/data/2/embedding"));
        assertThat(first.at("/data/0/embedding")).isNotEqualTo(first.at("/data/1/embedding"));
        assertThat(second.get("data")).isEqualTo(first.get("data"));
    }

    @Test
    void encodesBase64AsLittleEndianFloat32LikeOpenAi() {
        JsonNode floats = json(http.post("/v1/embeddings", "{\"model\":\"m\",\"dimensions\":16,\"input\":\"x\"}"));
        JsonNode base64 = json(http.post(
                "/v1/embeddings",
                "{\"model\":\"m\",\"dimensions\":16,\"input\":\"x\",\"encoding_format\":\"base64\"}"));

        byte[] bytes = Base64.getDecoder().decode(base64.at("/data/0/embedding").asText());
        ByteBuffer buffer = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        float[] expected = floats(floats.at("/data/0/embedding"));
        assertThat(bytes).hasSize(16 * Float.BYTES);
        for (float v : expected) {
            assertThat(buffer.getFloat()).isEqualTo(v);
        }
    }

    @Test
    void acceptsTokenArraysAsInput() {
        JsonNode one = json(http.post("/v1/embeddings", "{\"model\":\"m\",\"dimensions\":4,\"input\":[1,2,3]}"));
        JsonNode two = json(http.post("/v1/embeddings", "{\"model\":\"m\",\"dimensions\":4,\"input\":[[1,2],[3]]}"));

        assertThat(one.get("data")).hasSize(1);
        assertThat(two.get("data")).hasSize(2);
    }

    @Test
    void rejectsBadInputAndEncoding() {
        assertThat(json(http.post("/v1/embeddings", "{\"model\":\"m\"}"))
                        .at("/error/param")
                        .asText())
                .isEqualTo("input");
        assertThat(json(http.post("/v1/embeddings", "{\"model\":\"m\",\"input\":[]}"))
                        .at("/error/param")
                        .asText())
                .isEqualTo("input");
        assertThat(json(http.post("/v1/embeddings", "{\"model\":\"m\",\"input\":\"x\",\"encoding_format\":\"hex\"}"))
                        .at("/error/param")
                        .asText())
                .isEqualTo("encoding_format");
    }

    private static float[] floats(JsonNode array) {
        float[] out = new float[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).floatValue();
        }
        return out;
    }
}
