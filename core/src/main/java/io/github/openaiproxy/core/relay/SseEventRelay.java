package io.github.openaiproxy.core.relay;

import io.github.openaiproxy.core.flow.EventStream;
import io.github.openaiproxy.core.flow.IdleWatch;
import io.github.openaiproxy.core.upstream.UpstreamFailure;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.Flow;
import java.util.function.Consumer;

/**
 * Relays an upstream Server-Sent Events body event by event: bytes are cut only at event boundaries (a
 * blank line), never changed, and each complete event is published as its own item so the adapter can
 * flush it at once. Demand flows upstream: one upstream read is requested only when the client can
 * take more, so a slow client slows the upstream instead of filling memory.
 *
 * <p>When the upstream fails mid-stream, the partial event is dropped and one error event in OpenAI's
 * shape ({@code data: {"error":{...}}}) is published before completing; a {@code [DONE]} is never
 * invented. Cancelling the subscription cancels the upstream read. With an idle timeout, an upstream
 * that sends nothing for that long (before its first event too) is cancelled and the stream ends the same
 * way, with an error event whose code is {@code upstream_timeout}.
 */
final class SseEventRelay extends EventStream<List<ByteBuffer>> {
    /** The event sent when the upstream breaks off a stream. */
    static final byte[] UPSTREAM_BROKE_EVENT = ("data: {\"error\":{\"message\":\"The upstream connection was lost"
                    + " before the stream completed\",\"type\":\"server_error\",\"param\":null,\"code\":\"upstream_disconnected\"}}\n\n")
            .getBytes(StandardCharsets.UTF_8);

    static final byte[] EVENT_TOO_LARGE_EVENT = ("data: {\"error\":{\"message\":\"An upstream event exceeded the"
                    + " proxy's size limit\",\"type\":\"server_error\",\"param\":null,\"code\":\"upstream_event_too_large\"}}\n\n")
            .getBytes(StandardCharsets.UTF_8);

    /** The event sent when the upstream sent nothing for longer than the stream idle timeout. */
    static final byte[] UPSTREAM_IDLE_EVENT = ("data: {\"error\":{\"message\":\"The upstream sent nothing for longer"
                    + " than the proxy's stream idle timeout\",\"type\":\"server_error\",\"param\":null,\"code\":\"upstream_timeout\"}}\n\n")
            .getBytes(StandardCharsets.UTF_8);

    private static final System.Logger LOG = System.getLogger(SseEventRelay.class.getName());

    private final EventFramer framer;
    private final EventBuffers buffers;

    /**
     * @param upstream the upstream body
     * @param maxEventBytes the largest event accepted; a bigger one ends the stream with an error event
     */
    public SseEventRelay(Flow.Publisher<List<ByteBuffer>> upstream, int maxEventBytes) {
        this(upstream, maxEventBytes, null);
    }

    /** As above, ended with an error event when the upstream is silent for longer than {@code idle}'s timeout. */
    SseEventRelay(Flow.Publisher<List<ByteBuffer>> upstream, int maxEventBytes, IdleWatch idle) {
        this(upstream, maxEventBytes, idle, EventBuffers.UNBOUNDED);
    }

    /** As above, its unfinished event's buffer taken from {@code buffers}, shared by every stream of a proxy. */
    SseEventRelay(Flow.Publisher<List<ByteBuffer>> upstream, int maxEventBytes, IdleWatch idle, EventBuffers buffers) {
        super(upstream, idle);
        if (maxEventBytes < 1) {
            throw new IllegalArgumentException("maxEventBytes must be positive");
        }
        this.framer = new EventFramer(maxEventBytes, buffers);
        this.buffers = buffers;
    }

    @Override
    protected boolean onItem(List<ByteBuffer> item, Consumer<ByteBuffer> emit) {
        for (ByteBuffer b : item) {
            if (!framer.append(b, emit)) {
                framer.close();
                LOG.log(
                        System.Logger.Level.WARNING,
                        "an upstream event was over max-event-size, or the unfinished events of all streams over {0}"
                                + " bytes; stream ended",
                        buffers.limit());
                emit.accept(ByteBuffer.wrap(EVENT_TOO_LARGE_EVENT).asReadOnlyBuffer());
                return false;
            }
        }
        return true;
    }

    @Override
    protected void onSourceError(Throwable error, Consumer<ByteBuffer> emit) {
        framer.close();
        // A connection the client closed for silence (HTTP/2's idle timeout) is the proxy's idle timeout by another
        // name: the same event as over HTTP/1.1, where only the proxy's own timer ends a silent stream.
        byte[] event = UpstreamFailure.isTimeout(error) ? UPSTREAM_IDLE_EVENT : UPSTREAM_BROKE_EVENT;
        emit.accept(ByteBuffer.wrap(event).asReadOnlyBuffer());
    }

    @Override
    protected void onSourceIdle(Consumer<ByteBuffer> emit) {
        LOG.log(System.Logger.Level.WARNING, "upstream stream sent nothing within the stream idle timeout; ended");
        framer.close();
        emit.accept(ByteBuffer.wrap(UPSTREAM_IDLE_EVENT).asReadOnlyBuffer());
    }

    @Override
    protected void onSourceComplete(Consumer<ByteBuffer> emit) {
        // A last event without its blank line is still relayed as sent.
        framer.flushRemainder(emit);
        framer.close();
    }

    /**
     * An event with a field line: a block of comments ({@code : keep-alive}) and blank lines is none. Asked only
     * until the first event (see {@link #firstEvent}), so a long stream's events are not scanned for it.
     */
    @Override
    protected boolean isEvent(ByteBuffer emitted) {
        boolean lineStart = true;
        for (int i = emitted.position(); i < emitted.limit(); i++) {
            byte b = emitted.get(i);
            if (b == '\n' || b == '\r') {
                lineStart = true;
            } else if (lineStart) {
                if (b != ':') {
                    return true;
                }
                lineStart = false;
            }
        }
        return false;
    }

    @Override
    protected void onCancel() {
        framer.close(); // the client left: its unfinished event's buffer goes back to the others
    }
}
