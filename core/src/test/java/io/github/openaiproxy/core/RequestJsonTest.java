package io.github.openaiproxy.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.internal.Json;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The limit step's reading of a request body without a tree answers as the tree would: bodies a client might send,
 * hostile or broken ones included, read both ways.
 */
class RequestJsonTest {
    @ParameterizedTest
    @ValueSource(
            strings = {"{\"model\":\"a\",\"model\":\"b\"}", "{\"x\":{\"y\":1,\"y\":2},\"model\":\"b\",\"stream\":true}"
            })
    void aMemberNamedTwiceStillNamesTheModelButGetsNoTree(String json) {
        // The mapper refuses such a body; the ledger records the model it names, the upstream refuses it.
        RequestJson sniffed = RequestJson.of(json.getBytes(StandardCharsets.UTF_8));
        assertThat(sniffed.text("model")).isEqualTo("b");
        assertThat(sniffed.tree()).isNull();
        // The same answers whichever is asked first (a token limit parses the tree before the model is read).
        RequestJson treeFirst = RequestJson.of(json.getBytes(StandardCharsets.UTF_8));
        assertThat(treeFirst.tree()).isNull();
        assertThat(treeFirst.text("model")).isEqualTo("b");
        assertThat(treeFirst.streams()).isEqualTo(sniffed.streams());
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
                "{\"messages\":[{\"role\":\"user\",\"content\":\"{\\\"model\\\":\\\"evil\\\",\\\"stream\\\":true}\"}],\"model\":\"m\"}",
                "{\"model\":\"gpt-4o\",\"stream\":true,\"messages\":[]}",
                "{\"model\":\"gpt-4o\",\"stream\":false}",
                "{\"model\":\"gpt-4o\",\"stream\":\"true\"}",
                "{\"model\":\"gpt-4o\",\"stream\":{\"model\":\"inner\",\"stream\":true},\"size\":\"1024x1024\"}",
                "{\"model\":\"gpt-4o\",\"stream\":[true],\"quality\":\"hd\"}",
                "{\"model\":42,\"size\":null,\"quality\":[\"hd\"]}",
                "{\"model\":\"dall-e-3\",\"prompt\":\"a cat\",\"size\":\"1792x1024\",\"quality\":\"hd\"}",
                "{\"model\":\"a\"} {\"model\":\"b\"}",
                "{\"model\":\"a\"}}",
                "{\"model\":\"a\"",
                "{\"model\":\"a\",\"n\":NaN}",
                "{\"model\":\"a\",\"n\":1e999999}",
                "[{\"model\":\"a\"}]",
                "\"model\"",
                "null",
                "  {\"model\" : \"spaced\" , \"stream\" : true }  ",
                "{\"model\":\"caf\\u00e9\",\"stream\":true}",
                "not json at all",
                "{}"
            })
    void answersAsTheTreeWould(String json) {
        byte[] bytes = json.getBytes(StandardCharsets.UTF_8);
        RequestJson sniffed = RequestJson.of(bytes);
        RequestJson tree = RequestJson.of(Json.objectOrNull(bytes));
        for (String field : new String[] {"model", "size", "quality"}) {
            assertThat(sniffed.text(field)).as(json + " " + field).isEqualTo(tree.text(field));
        }
        assertThat(sniffed.streams()).as(json).isEqualTo(tree.streams());
        // The tree, when it is asked for after all (a stream, an estimate), is the parse's.
        assertThat(sniffed.tree()).as(json).isEqualTo(Json.objectOrNull(bytes));
    }
}
