package io.github.openaiproxy.core.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatIllegalArgumentException;

import io.github.openaiproxy.core.flow.Publishers;
import io.github.openaiproxy.testsupport.BodyReader;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The builder modules answer with: JSON with its length and no caching, event streams that flush. */
class ProxyResponseBuilderTest {
    @Test
    void jsonSetsTypeLengthAndNoStoreKeepingExtraHeaders() throws Exception {
        byte[] json = "{\"id\":\"é\"}".getBytes(StandardCharsets.UTF_8);
        ProxyResponse r = ProxyResponse.builder(201)
                .headers(Map.of("Retry-After", "3"))
                .json(json)
                .build();
        assertThat(r.status()).isEqualTo(201);
        assertThat(r.streaming()).isFalse();
        assertThat(r.headers().firstValue("content-type")).hasValue("application/json");
        assertThat(r.headers().firstValue("Content-Length")).hasValue(Integer.toString(json.length));
        assertThat(r.headers().firstValue("Cache-Control")).hasValue("no-store");
        assertThat(r.headers().firstValue("Retry-After")).hasValue("3");
        assertThat(BodyReader.collect(r.body()).get().bytes()).isEqualTo(json);
    }

    @Test
    void aContentTypeSetBeforeJsonIsKept() {
        ProxyResponse r = ProxyResponse.builder(200)
                .header("content-type", "application/graphql-response+json; charset=utf-8")
                .json(new byte[] {'{', '}'})
                .build();
        assertThat(r.headers().allValues("Content-Type"))
                .containsExactly("application/graphql-response+json; charset=utf-8");
    }

    @Test
    void eventsStreamWithTheHeadersThatKeepEventsFlowing() throws Exception {
        ProxyResponse r = ProxyResponse.builder(200)
                .events(Publishers.just(List.of(ByteBuffer.wrap("data: x\n\n".getBytes(StandardCharsets.UTF_8)))))
                .build();
        assertThat(r.streaming()).isTrue();
        assertThat(r.headers().firstValue("Content-Type")).hasValue("text/event-stream; charset=utf-8");
        assertThat(r.headers().firstValue("Cache-Control")).hasValue("no-cache");
        assertThat(r.headers().firstValue("X-Accel-Buffering")).hasValue("no");
        assertThat(r.headers().firstValue("Content-Length")).isEmpty();
        assertThat(BodyReader.collect(r.body()).get().text()).isEqualTo("data: x\n\n");
    }

    @Test
    void withoutABodyTheResponseIsEmpty() throws Exception {
        ProxyResponse r = ProxyResponse.builder(204).build();
        assertThat(BodyReader.collect(r.body()).get().bytes()).isEmpty();
    }

    @Test
    void refusesWhatIsNoStatus() {
        assertThatIllegalArgumentException().isThrownBy(() -> ProxyResponse.builder(0));
    }
}
