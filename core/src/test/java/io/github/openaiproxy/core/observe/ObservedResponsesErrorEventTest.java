package io.github.openaiproxy.core.observe;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** An upstream's error event marks the call failed, also when the previous event's line end comes in front of it. */
class ObservedResponsesErrorEventTest {
    private static List<ByteBuffer> event(String text) {
        return List.of(ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8)));
    }

    @Test
    void anErrorEventIsSeenAfterLeadingLineEndsToo() {
        assertThat(ObservedResponses.startsWithError(event("data: {\"error\":{\"message\":\"x\"}}\n\n")))
                .isTrue();
        assertThat(ObservedResponses.startsWithError(event("\ndata: {\"error\":{\"message\":\"x\"}}\r\r")))
                .isTrue();
        assertThat(ObservedResponses.startsWithError(event("\r\n\ndata: {\"error\":{}}\n\n")))
                .isTrue();
        assertThat(ObservedResponses.startsWithError(event("\ndata: {\"id\":\"c\"}\r\r")))
                .isFalse();
        assertThat(ObservedResponses.startsWithError(event("\n\n"))).isFalse();
    }
}
