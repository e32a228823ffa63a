package io.github.openaiproxy.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.internal.BodyCollector;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** An upload's held start: bounded, given whole to each call until one reads past it, the model renamed per call. */
class HeldBodyTest {
    private static final int PIECE = 16 * 1024;

    /** A body of {@code pieces} pieces of 16 KiB, each sent on request; counts the pieces asked for. */
    private static final class Pieces implements Flow.Publisher<ByteBuffer> {
        final AtomicInteger sent = new AtomicInteger();
        final int pieces;
        final byte[] first;

        Pieces(int pieces, byte[] first) {
            this.pieces = pieces;
            this.first = first;
        }

        @Override
        public void subscribe(Flow.Subscriber<? super ByteBuffer> s) {
            s.onSubscribe(new Flow.Subscription() {
                private boolean done;

                @Override
                public void request(long n) {
                    for (long i = 0; i < n && !done; i++) {
                        int k = sent.getAndIncrement();
                        if (k >= pieces) {
                            done = true;
                            s.onComplete();
                            return;
                        }
                        byte[] piece = new byte[PIECE];
                        java.util.Arrays.fill(piece, (byte) ('a' + k % 26));
                        if (k == 0) {
                            System.arraycopy(first, 0, piece, 0, first.length);
                        }
                        s.onNext(ByteBuffer.wrap(piece));
                    }
                }

                @Override
                public void cancel() {
                    done = true;
                }
            });
        }
    }

    /** {@code body} in pieces of {@code size}, each sent on request, then its end. */
    private static Flow.Publisher<ByteBuffer> chopped(byte[] body, int size) {
        return s -> s.onSubscribe(new Flow.Subscription() {
            private int at;
            private boolean done;

            @Override
            public void request(long n) {
                for (long i = 0; i < n && !done; i++) {
                    if (at >= body.length) {
                        done = true;
                        s.onComplete();
                        return;
                    }
                    int k = Math.min(size, body.length - at);
                    at += k; // before onNext: the subscriber may ask for the next piece from within it
                    s.onNext(ByteBuffer.wrap(java.util.Arrays.copyOfRange(body, at - k, at)));
                }
            }

            @Override
            public void cancel() {
                done = true;
            }
        });
    }

    /**
     * A model after the file whose value straddles the held bytes and the spool file: renamed where it is, the length
     * following, the body otherwise byte for byte; spooled to its end, every call gets all of it; the file goes on
     * release.
     */
    @Test
    void aModelStraddlingTheHeldBytesAndTheSpoolIsRenamedWhereItIs(
            @org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        // A long text field first: the hold reaches its bound (66 pieces of 1000 bytes) inside the model's value.
        String promptHead = "--xyz\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\n";
        String modelHead = "\r\n--xyz\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n";
        int pad = 66_000 - promptHead.length() - modelHead.length() - 3; // "whi" held, "sper-1" spooled
        String before = promptHead + "p".repeat(pad) + modelHead;
        String after = "\r\n--xyz--\r\n";
        byte[] body = (before + "whisper-1" + after).getBytes(StandardCharsets.ISO_8859_1);
        byte[] renamed = (before + "whisper-large-v3" + after).getBytes(StandardCharsets.ISO_8859_1);
        UploadSpool spool = new UploadSpool(dir, 1024 * 1024);

        HeldBody held = HeldBody.hold(
                        chopped(body, 1000),
                        (b, n) -> !(new MultipartModel("xyz").scan(b, n) instanceof MultipartModel.More),
                        new HeldBody.Spooling(spool, 10 * 1024 * 1024),
                        new MultipartModel("xyz"),
                        io.github.openaiproxy.core.http.ProxyRequest.builder("POST", "/v1/audio/transcriptions")
                                .build())
                .get(5, TimeUnit.SECONDS);

        assertThat(held.spooled()).isTrue();
        assertThat(held.length()).isEqualTo(66_000);
        assertThat(held.model())
                .as("held %d, spooled %d, total %d", held.length(), spool.used(), body.length)
                .isEqualTo("whisper-1");
        held.renameModel("whisper-large-v3");
        assertThat(held.lengthChange()).isEqualTo(renamed.length - body.length);
        assertThat(held.spooledWhole()).isTrue();
        assertThat(BodyCollector.collect(held, Long.MAX_VALUE).get(5, TimeUnit.SECONDS))
                .isEqualTo(renamed);
        held.renameModel("whisper-1");
        assertThat(BodyCollector.collect(held, Long.MAX_VALUE).get(5, TimeUnit.SECONDS))
                .as("again, whole: the client's name this time")
                .isEqualTo(body);
        held.release();
        assertThat(spool.used()).isZero();
        try (java.util.stream.Stream<java.nio.file.Path> left = java.nio.file.Files.list(dir)) {
            assertThat(left).isEmpty();
        }
    }

    private static HeldBody hold(Pieces source, HeldBody.Scan scan) throws Exception {
        return HeldBody.hold(source, scan).get(5, TimeUnit.SECONDS);
    }

    @Test
    void aBodyThatNeverSatisfiesTheScanIsHeldOnlyUpToTheBound() throws Exception {
        Pieces source = new Pieces(64, new byte[0]); // 1 MiB
        HeldBody held = hold(source, (b, n) -> false);

        assertThat(held.length()).isEqualTo(HeldBody.BOUND);
        assertThat(held.bytes()).as("the array held").hasSize(HeldBody.BOUND);
        assertThat(source.sent.get()).as("pieces read before the call").isEqualTo(HeldBody.BOUND / PIECE);
        byte[] all = BodyCollector.collect(held, Long.MAX_VALUE).get(5, TimeUnit.SECONDS);
        assertThat(all).hasSize(64 * PIECE);
    }

    @Test
    void aBodySentAByteAtATimeIsScannedAFewTimesNotOnceAByte() throws Exception {
        // A client dripping its body: were the scan (which reads every held byte) asked at each piece, 64 KiB of
        // one-byte pieces would cost about two billion byte comparisons.
        Flow.Publisher<ByteBuffer> drip = s -> s.onSubscribe(new Flow.Subscription() {
            private int sent;
            private long demand;
            private boolean emitting; // a request from inside onNext only adds demand: no recursion

            @Override
            public void request(long n) {
                demand += n;
                if (emitting) {
                    return;
                }
                emitting = true;
                while (demand > 0 && sent <= HeldBody.BOUND) {
                    demand--;
                    sent++;
                    s.onNext(ByteBuffer.wrap(new byte[] {'x'}));
                }
                emitting = false;
            }

            @Override
            public void cancel() {}
        });
        AtomicInteger scans = new AtomicInteger();

        HeldBody held = HeldBody.hold(drip, (b, n) -> {
                    scans.incrementAndGet();
                    return false;
                })
                .get(5, TimeUnit.SECONDS);

        assertThat(held.length()).isEqualTo(HeldBody.BOUND);
        assertThat(scans.get()).as("scans of the held bytes").isBetween(1, 12);
    }

    @Test
    void untilACallReadsPastTheHeldBytesEachCallGetsThemAndTheBodyStaysWhole() throws Exception {
        Pieces source = new Pieces(8, new byte[0]);
        HeldBody held = hold(source, HeldBody.Scan.FIRST_PIECE);
        held.renameModel(null);

        // A call that takes the first piece and fails before asking for more (Jetty's refused connection).
        CompletableFuture<Integer> first = new CompletableFuture<>();
        held.subscribe(new Flow.Subscriber<>() {
            private Flow.Subscription s;

            @Override
            public void onSubscribe(Flow.Subscription s) {
                this.s = s;
                s.request(1);
            }

            @Override
            public void onNext(ByteBuffer item) {
                first.complete(item.remaining());
                s.cancel();
            }

            @Override
            public void onError(Throwable t) {}

            @Override
            public void onComplete() {}
        });

        assertThat(first.get(5, TimeUnit.SECONDS)).isEqualTo(PIECE);
        assertThat(held.replayable()).isTrue();
        assertThat(BodyCollector.collect(held, Long.MAX_VALUE).get(5, TimeUnit.SECONDS))
                .hasSize(8 * PIECE);
        assertThat(held.replayable()).as("read past the held piece").isFalse();
        CompletableFuture<byte[]> again = BodyCollector.collect(held, Long.MAX_VALUE);
        assertThat(again).failsWithin(5, TimeUnit.SECONDS).withThrowableOfType(ExecutionException.class);
    }

    @Test
    void theModelIsRenamedInEachCallsCopy() throws Exception {
        String start = "--b\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n";
        Pieces source = new Pieces(2, start.getBytes(StandardCharsets.US_ASCII));
        HeldBody held = hold(source, HeldBody.Scan.FIRST_PIECE);
        int at = start.indexOf("whisper-1");
        held.foundModel(new MultipartModel.Found("whisper-1", at, at + "whisper-1".length()));

        held.renameModel("whisper-large-v3");
        assertThat(held.lengthChange()).isEqualTo("whisper-large-v3".length() - "whisper-1".length());
        held.renameModel("whisper-1");
        assertThat(held.lengthChange()).isZero();
        held.renameModel("whisper-large-v3");
        byte[] sent = BodyCollector.collect(held, Long.MAX_VALUE).get(5, TimeUnit.SECONDS);

        String text = new String(sent, 0, start.length() + 7, StandardCharsets.US_ASCII);
        assertThat(text).startsWith(start.replace("whisper-1", "whisper-large-v3"));
        assertThat(sent).hasSize(2 * PIECE + 7);
    }
}
