package io.github.openaiproxy.benchmarks.jmh;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.openaiproxy.core.internal.Json;
import io.github.openaiproxy.core.normalize.ChatDefaults;
import io.github.openaiproxy.core.normalize.ChatRequestNormalizer;
import io.github.openaiproxy.core.normalize.ImageActionDetector;
import io.github.openaiproxy.core.normalize.ImageDefaults;
import io.github.openaiproxy.core.normalize.ImageRequestNormalizer;
import io.github.openaiproxy.core.normalize.Normalized;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The simple route's work on a request body ({@code POST /}): parse, image-action detection, chat
 * normalization (defaults filled in) and serialization of the body sent upstream.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
@State(Scope.Benchmark)
public class NormalizationBenchmark {
    /** A typical body of a front end on the simple route: messages only, defaults come from the proxy. */
    static final byte[] CHAT = ("{\"messages\":[{\"role\":\"system\",\"content\":\"You are a helpful assistant.\"},"
                    + "{\"role\":\"user\",\"content\":\"What is the capital of France?\"},{\"role\":\"assistant\","
                    + "\"content\":\"Paris.\"},{\"role\":\"user\",\"content\":\"And how many people live there?\"}],"
                    + "\"temperature\":0.5}")
            .getBytes(StandardCharsets.UTF_8);

    static final byte[] IMAGE = "{\"action\":\"generate-image\",\"prompt\":\"A watercolor lighthouse at dusk\"}"
            .getBytes(StandardCharsets.UTF_8);

    private ChatRequestNormalizer chat;
    private ImageRequestNormalizer image;
    private ObjectNode parsedChat;

    @Setup
    public void setUp() throws IOException {
        chat = new ChatRequestNormalizer(ChatDefaults.DEFAULTS);
        image = new ImageRequestNormalizer(ImageDefaults.DEFAULTS);
        parsedChat = (ObjectNode) Json.parse(CHAT);
    }

    /** The whole simple-route body path for a chat: bytes in, bytes for the upstream out. */
    @Benchmark
    public byte[] chatBodyEndToEnd() throws IOException {
        ObjectNode body = (ObjectNode) Json.parse(CHAT);
        Normalized n = ImageActionDetector.isImageRequest(body) ? image.normalize(body) : chat.normalize(body);
        return Json.bytes(((Normalized.Accepted) n).body());
    }

    /** The same for an image request on {@code POST /}. */
    @Benchmark
    public byte[] imageBodyEndToEnd() throws IOException {
        ObjectNode body = (ObjectNode) Json.parse(IMAGE);
        Normalized n = ImageActionDetector.isImageRequest(body) ? image.normalize(body) : chat.normalize(body);
        return Json.bytes(((Normalized.Accepted) n).body());
    }

    /** Image-action detection alone, on a parsed body. */
    @Benchmark
    public boolean imageActionDetection() {
        return ImageActionDetector.isImageRequest(parsedChat);
    }

    /** Chat normalization alone (copy plus defaults), on a parsed body. */
    @Benchmark
    public Normalized chatNormalization() {
        return chat.normalize(parsedChat);
    }
}
