package io.github.openaiproxy.graphql;

import io.github.openaiproxy.core.flow.EventStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Flow;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * The GraphQL over SSE protocol's "distinct connections mode" on the wire: every result becomes
 * {@code event: next} with the result as {@code data}, the end {@code event: complete}. A failure of the
 * source becomes one more {@code next} with its errors, then {@code complete}. Demand and cancellation
 * pass through as {@link EventStream} does; the closing events wait for demand like any other.
 */
final class SseEvents<T> extends EventStream<T> {
    static final byte[] COMPLETE = "event: complete\ndata:\n\n".getBytes(StandardCharsets.UTF_8);

    private final Function<T, String> toJson;
    private final Function<Throwable, String> errorJson;

    SseEvents(Flow.Publisher<T> source, Function<T, String> toJson, Function<Throwable, String> errorJson) {
        super(source);
        this.toJson = toJson;
        this.errorJson = errorJson;
    }

    static ByteBuffer next(String json) {
        // JSON from a serializer has no raw line breaks, so one data line carries it.
        return ByteBuffer.wrap(("event: next\ndata: " + json + "\n\n").getBytes(StandardCharsets.UTF_8));
    }

    @Override
    protected boolean onItem(T item, Consumer<ByteBuffer> emit) {
        emit.accept(next(toJson.apply(item)));
        return true;
    }

    @Override
    protected void onSourceError(Throwable error, Consumer<ByteBuffer> emit) {
        emit.accept(next(errorJson.apply(error)));
        emit.accept(ByteBuffer.wrap(COMPLETE));
    }

    @Override
    protected void onSourceComplete(Consumer<ByteBuffer> emit) {
        emit.accept(ByteBuffer.wrap(COMPLETE));
    }
}
