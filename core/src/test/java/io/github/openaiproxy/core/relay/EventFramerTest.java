package io.github.openaiproxy.core.relay;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class EventFramerTest {
    private static final int NO_LIMIT = Integer.MAX_VALUE;

    private final List<byte[]> events = new ArrayList<>();

    @ParameterizedTest
    @EnumSource(SseCase.class)
    void cutsTheStreamIntoEventsUnchanged(SseCase c) {
        EventFramer framer = new EventFramer(NO_LIMIT);

        for (byte[] read : c.readBytes()) {
            assertThat(framer.append(ByteBuffer.wrap(read), this::collect)).isTrue();
        }
        framer.flushRemainder(this::collect);

        assertThat(texts()).isEqualTo(c.events);
    }

    @ParameterizedTest
    @EnumSource(SseCase.class)
    void framingDoesNotDependOnWhereReadsSplitTheStream(SseCase c) {
        byte[] body = c.wholeBody();
        for (int at = 0; at <= body.length; at++) {
            events.clear();
            EventFramer framer = new EventFramer(NO_LIMIT);

            framer.append(ByteBuffer.wrap(Arrays.copyOfRange(body, 0, at)), this::collect);
            framer.append(ByteBuffer.wrap(Arrays.copyOfRange(body, at, body.length)), this::collect);
            framer.flushRemainder(this::collect);

            assertThat(texts()).as("split at byte %d", at).isEqualTo(c.events);
        }
    }

    @ParameterizedTest
    @EnumSource(SseCase.class)
    void framingSurvivesOneByteReads(SseCase c) {
        EventFramer framer = new EventFramer(NO_LIMIT);

        for (byte b : c.wholeBody()) {
            framer.append(ByteBuffer.wrap(new byte[] {b}), this::collect);
        }
        framer.flushRemainder(this::collect);

        assertThat(texts()).isEqualTo(c.events);
    }

    @Test
    void multiByteCharacterSplitInsideItsBytesIsRelayedByteForByte() {
        byte[] body = "data: {\"c\":\"\ud83c\udf0d\u4f60\"}\n\n".getBytes(StandardCharsets.UTF_8);
        int emojiStart = "data: {\"c\":\"".length();
        for (int at = emojiStart + 1; at < emojiStart + 7; at++) { // inside the 4-byte emoji and the 3-byte CJK
            events.clear();
            EventFramer framer = new EventFramer(NO_LIMIT);

            framer.append(ByteBuffer.wrap(Arrays.copyOfRange(body, 0, at)), this::collect);
            assertThat(events).isEmpty();
            framer.append(ByteBuffer.wrap(Arrays.copyOfRange(body, at, body.length)), this::collect);

            assertThat(events).hasSize(1);
            assertThat(events.get(0)).isEqualTo(body);
        }
    }

    @Test
    void eventIsHandedOverAsSoonAsItsBlankLineArrives() {
        EventFramer framer = new EventFramer(NO_LIMIT);

        framer.append(utf8("data: a\n"), this::collect);
        assertThat(events).isEmpty();
        framer.append(utf8("\ndata: b"), this::collect);

        assertThat(texts()).containsExactly("data: a\n\n");
    }

    @Test
    void carriageReturnAtTheEndOfAReadWaitsForAPossibleLineFeed() {
        EventFramer framer = new EventFramer(NO_LIMIT);

        framer.append(utf8("data: a\r\n\r"), this::collect);
        assertThat(events).as("CR may be the first half of CRLF").isEmpty();
        framer.append(utf8("\n"), this::collect);

        assertThat(texts()).containsExactly("data: a\r\n\r\n");
    }

    @Test
    void anEventEndedByBareCarriageReturnsIsHandedOverWithoutWaitingForTheNextRead() {
        // A stream whose lines end with bare CRs ends each read with its event's last CR: held back for an LF
        // that never comes, every event would reach the client only when the next one arrives.
        EventFramer framer = new EventFramer(NO_LIMIT);

        framer.append(utf8("data: a\r\r"), this::collect);
        assertThat(texts()).containsExactly("data: a\r\r");
        framer.append(utf8("event: x\rdata: b\r"), this::collect);
        framer.append(utf8("\r"), this::collect);
        assertThat(texts()).containsExactly("data: a\r\r", "event: x\rdata: b\r\r");

        // Were an LF to follow after all, no byte is lost or moved: it travels with the next event.
        framer.append(utf8("\ndata: c\r\n\r\n"), this::collect);
        assertThat(String.join("", texts())).isEqualTo("data: a\r\revent: x\rdata: b\r\r\ndata: c\r\n\r\n");
    }

    @Test
    void twoMebibyteDataLineIsOneEvent() {
        byte[] event = bigEvent(2 * 1024 * 1024);
        EventFramer framer = new EventFramer(16 * 1024 * 1024);

        assertThat(framer.append(ByteBuffer.wrap(event), this::collect)).isTrue();

        assertThat(events).hasSize(1);
        assertThat(events.get(0)).isEqualTo(event);
    }

    @Test
    void twoMebibyteDataLineInSmallReadsIsOneEvent() {
        byte[] event = bigEvent(2 * 1024 * 1024);
        EventFramer framer = new EventFramer(16 * 1024 * 1024);

        for (int i = 0; i < event.length; i += 16 * 1024) {
            byte[] read = Arrays.copyOfRange(event, i, Math.min(event.length, i + 16 * 1024));
            assertThat(framer.append(ByteBuffer.wrap(read), this::collect)).isTrue();
        }

        assertThat(events).hasSize(1);
        assertThat(events.get(0)).isEqualTo(event);
    }

    @Test
    void pendingEventOverTheLimitIsRefused() {
        EventFramer framer = new EventFramer(64);

        assertThat(framer.append(utf8("data: " + "x".repeat(40)), this::collect))
                .isTrue();
        assertThat(framer.append(utf8("x".repeat(40)), this::collect)).isFalse();

        assertThat(events).isEmpty();
    }

    @Test
    void completeEventOverTheLimitIsRefusedAlsoWhenItArrivesInOneRead() {
        EventFramer framer = new EventFramer(64);

        boolean accepted = framer.append(utf8("data: ok\n\ndata: " + "x".repeat(100) + "\n\n"), this::collect);

        assertThat(accepted).isFalse();
        assertThat(texts()).containsExactly("data: ok\n\n");
    }

    @Test
    void eventOfExactlyTheLimitIsAccepted() {
        String event = "data: " + "x".repeat(56) + "\n\n"; // 64 bytes
        EventFramer framer = new EventFramer(64);

        assertThat(framer.append(utf8(event), this::collect)).isTrue();

        assertThat(texts()).containsExactly(event);
    }

    @Test
    void limitAppliesToEachEventNotToTheWholeStream() {
        EventFramer framer = new EventFramer(64);

        for (int i = 0; i < 100; i++) {
            assertThat(framer.append(utf8("data: " + i + "\n\n"), this::collect))
                    .isTrue();
        }

        assertThat(events).hasSize(100);
    }

    @Test
    void discardDropsThePartialEvent() {
        EventFramer framer = new EventFramer(NO_LIMIT);
        framer.append(utf8("data: a\n\ndata: partial"), this::collect);

        framer.discard();
        framer.flushRemainder(this::collect);

        assertThat(texts()).containsExactly("data: a\n\n");
    }

    @ParameterizedTest
    @EnumSource(SseCase.class)
    void framingIsTheSameForReadsInsideLargerArraysAndForReadOnlyReads(SseCase c) {
        // Reads at an offset of a larger array (the events are cut out of it), read-only ones (copied in
        // first), and the two alternating.
        for (int mode = 0; mode < 3; mode++) {
            events.clear();
            EventFramer framer = new EventFramer(NO_LIMIT);
            int n = 0;
            for (byte[] read : c.readBytes()) {
                byte[] padded = new byte[read.length + 7];
                System.arraycopy(read, 0, padded, 5, read.length);
                ByteBuffer inside = ByteBuffer.wrap(padded, 5, read.length).slice();
                ByteBuffer readOnly = ByteBuffer.wrap(read).asReadOnlyBuffer();
                ByteBuffer chunk = mode == 0 ? inside : mode == 1 ? readOnly : (n++ % 2 == 0 ? inside : readOnly);
                assertThat(framer.append(chunk, this::collect)).isTrue();
            }
            framer.flushRemainder(this::collect);
            assertThat(texts()).as("mode " + mode).isEqualTo(c.events);
        }
    }

    @Test
    void aStreamOfWholeEventsHoldsNoBufferBetweenThem() {
        EventFramer framer = new EventFramer(NO_LIMIT);

        framer.append(utf8("data: a\n\ndata: b\n\n"), this::collect);
        assertThat(framer.bufferCapacity()).as("after whole events").isZero();

        framer.append(utf8("data: c"), this::collect);
        assertThat(framer.bufferCapacity()).as("holding a split event").isPositive();
        framer.append(utf8("\n\n"), this::collect);

        assertThat(texts()).containsExactly("data: a\n\n", "data: b\n\n", "data: c\n\n");
        assertThat(framer.bufferCapacity()).as("after a split event").isLessThanOrEqualTo(1024);
    }

    @Test
    void anEventUpToTheLimitHoldsAboutItsSizeNotTwice() {
        int max = 1024 * 1024;
        EventFramer framer = new EventFramer(max);
        assertThat(framer.append(utf8("data: "), this::collect)).isTrue();
        byte[] piece = new byte[4096];
        Arrays.fill(piece, (byte) 'x');
        for (int n = 6; n + piece.length <= max; n += piece.length) {
            assertThat(framer.append(ByteBuffer.wrap(piece), this::collect)).isTrue();
        }
        // Doubling went to 2 MB for an event of 1 MB; the growth stops at the limit and one read.
        assertThat(framer.bufferCapacity()).isLessThanOrEqualTo(max + 4096);
    }

    @Test
    void theBuffersOfAllFramersAreBoundedTogetherAndGivenBackOnClose() {
        EventBuffers buffers = new EventBuffers(150_000);
        EventFramer first = new EventFramer(150_000, buffers);
        EventFramer second = new EventFramer(150_000, buffers);
        ByteBuffer big = utf8("data: " + "x".repeat(100_000));

        assertThat(first.append(big.duplicate(), this::collect)).isTrue();
        assertThat(second.append(big.duplicate(), this::collect))
                .as("over the shared bound")
                .isFalse();
        second.close();
        assertThat(buffers.held()).isEqualTo(first.bufferCapacity() - EventFramer.FREE);

        first.close();
        assertThat(buffers.held()).isZero();
        EventFramer third = new EventFramer(150_000, buffers);
        assertThat(third.append(big.duplicate(), this::collect))
                .as("after the first gave back")
                .isTrue();
        assertThat(third.append(utf8("\n\n"), this::collect)).isTrue();
        assertThat(texts()).containsExactly("data: " + "x".repeat(100_000) + "\n\n");
    }

    /** A small max-event-size makes a small shared bound: streams of ordinary chunks must still never meet it. */
    @Test
    void manyStreamsHoldingSmallSplitEventsAreNeverRefused() {
        EventBuffers buffers = new EventBuffers(64 * 1024);
        List<EventFramer> framers = new ArrayList<>();
        for (int i = 0; i < 10_000; i++) {
            EventFramer framer = new EventFramer(64 * 1024, buffers);
            framers.add(framer);
            assertThat(framer.append(utf8("data: {\"choices\":[{\"delta\":{\"content\":\"a"), this::collect))
                    .as("stream %d", i)
                    .isTrue();
        }
        assertThat(buffers.held()).isZero();
        framers.forEach(
                f -> assertThat(f.append(utf8("\"}}]}\n\n"), this::collect)).isTrue());
        assertThat(events).hasSize(10_000);
    }

    @Test
    void readIsNotConsumedFromTheCallersBuffer() {
        ByteBuffer read = utf8("data: a\n\n");
        EventFramer framer = new EventFramer(NO_LIMIT);

        framer.append(read, this::collect);

        assertThat(read.remaining()).isEqualTo(9);
    }

    private static byte[] bigEvent(int payloadBytes) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes("data: ".getBytes(StandardCharsets.US_ASCII));
        byte[] payload = new byte[payloadBytes];
        Arrays.fill(payload, (byte) 'x');
        out.writeBytes(payload);
        out.writeBytes("\n\n".getBytes(StandardCharsets.US_ASCII));
        return out.toByteArray();
    }

    private static ByteBuffer utf8(String s) {
        return ByteBuffer.wrap(s.getBytes(StandardCharsets.UTF_8));
    }

    private void collect(ByteBuffer event) {
        byte[] b = new byte[event.remaining()];
        event.duplicate().get(b);
        events.add(b);
    }

    private List<String> texts() {
        return events.stream().map(b -> new String(b, StandardCharsets.UTF_8)).toList();
    }
}
