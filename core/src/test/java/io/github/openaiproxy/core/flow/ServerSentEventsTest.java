package io.github.openaiproxy.core.flow;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

class ServerSentEventsTest {
    @Test
    void joinsDataLinesWithLineFeedsWhateverTheLineEnding() {
        assertThat(ServerSentEvents.data(event("event: x\r\ndata: {\"a\":\r\ndata:1}\r\n\r\n")))
                .isEqualTo("{\"a\":\n1}");
        assertThat(ServerSentEvents.data(event("data: [DONE]\n\n"))).isEqualTo("[DONE]");
        assertThat(ServerSentEvents.data(event("data:  two spaces\r\r"))).isEqualTo(" two spaces");
    }

    @Test
    void anEventWithoutDataHasNone() {
        assertThat(ServerSentEvents.data(event(": keep-alive\n\n"))).isNull();
        assertThat(ServerSentEvents.data(event("event: ping\n\n"))).isNull();
    }

    @Test
    void readsAnEventSpreadOverBuffersWithoutMovingThem() {
        ByteBuffer first = ByteBuffer.wrap("data: hel".getBytes(StandardCharsets.UTF_8));
        ByteBuffer second = ByteBuffer.wrap("lo\n\n".getBytes(StandardCharsets.UTF_8));

        assertThat(ServerSentEvents.data(List.of(first, second))).isEqualTo("hello");
        assertThat(first.remaining()).isEqualTo(9);
        assertThat(second.remaining()).isEqualTo(4);
    }

    private static List<ByteBuffer> event(String text) {
        return List.of(ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8)));
    }
}
