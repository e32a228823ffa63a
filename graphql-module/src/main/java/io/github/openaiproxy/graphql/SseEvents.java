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
    /** What comes before a {@code next} event's JSON; JSON from a serializer has no raw line breaks. */
    static final byte[] NEXT = "event: next\ndata: ".getBytes(StandardCharsets.UTF_8);
    /** What comes after it. */
    static final byte[] END = "\n\n".getBytes(StandardCharsets.UTF_8);

    static final byte[] COMPLETE = "event: complete\ndata:\n\n".getBytes(StandardCharsets.UTF_8);

    private final Function<T, ByteBuffer> toEvent;
    private final Function<Throwable, String> errorJson;

    /**
     * @param toEvent an item as its whole {@code next} event: {@link #NEXT}, the JSON, {@link #END} (serialized
     *     straight into the event's bytes, so an event costs no copy of its JSON)
     * @param errorJson the JSON of the last {@code next} event after a failure of the source
     */
    SseEvents(Flow.Publisher<T> source, Function<T, ByteBuffer> toEvent, Function<Throwable, String> errorJson) {
        super(source);
        this.toEvent = toEvent;
        this.errorJson = errorJson;
    }

    /** A {@code next} event carrying {@code json}. */
    static ByteBuffer next(byte[] json) {
        byte[] event = new byte[NEXT.length + json.length + END.length];
        System.arraycopy(NEXT, 0, event, 0, NEXT.length);
        System.arraycopy(json, 0, event, NEXT.length, json.length);
        System.arraycopy(END, 0, event, NEXT.length + json.length, END.length);
        return ByteBuffer.wrap(event);
    }

    @Override
    protected boolean onItem(T item, Consumer<ByteBuffer> emit) {
        emit.accept(toEvent.apply(item));
        return true;
    }

    @Override
    protected void onSourceError(Throwable error, Consumer<ByteBuffer> emit) {
        emit.accept(next(errorJson.apply(error).getBytes(StandardCharsets.UTF_8)));
        emit.accept(ByteBuffer.wrap(COMPLETE));
    }

    @Override
    protected void onSourceComplete(Consumer<ByteBuffer> emit) {
        emit.accept(ByteBuffer.wrap(COMPLETE));
    }
}
