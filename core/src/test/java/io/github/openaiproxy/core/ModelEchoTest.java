package io.github.openaiproxy.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.internal.HeaderMap;
import io.github.openaiproxy.core.testing.TestPublisher;
import io.github.openaiproxy.testsupport.TestSubscriber;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** An aliased stream names the client's model in every chunk, also one that starts with the last one's line end. */
class ModelEchoTest {
    @Test
    void aChunkThatStartsWithThePreviousEventsLineEndIsRenamedToo() {
        TestPublisher upstream = new TestPublisher();
        ProxyResponse r = new ProxyResponse(
                200, new HeaderMap().set("Content-Type", "text/event-stream").build(), upstream, true);
        TestSubscriber client = new TestSubscriber(Long.MAX_VALUE);
        ModelEcho.restore(r, "gpt-4o").join().body().subscribe(client);

        // A stream mixing CR and CRLF: the framer hands an event's last LF over with the next event.
        upstream.emit("data: {\"id\":\"a\",\"model\":\"prod-gpt4o\"}\r\r");
        upstream.emit("\ndata: {\"id\":\"b\",\"model\":\"prod-gpt4o\"}\r\r");
        upstream.emit("\ndata: [DONE]\r\r");
        upstream.complete();

        List<String> got = client.items().stream()
                .map(b -> new String(b, StandardCharsets.UTF_8))
                .toList();
        assertThat(got)
                .containsExactly(
                        "data: {\"id\":\"a\",\"model\":\"gpt-4o\"}\n\n",
                        "\ndata: {\"id\":\"b\",\"model\":\"gpt-4o\"}\n\n",
                        "\ndata: [DONE]\r\r");
    }
}
