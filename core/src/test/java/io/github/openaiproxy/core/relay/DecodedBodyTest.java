package io.github.openaiproxy.core.relay;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.testing.TestPublisher;
import io.github.openaiproxy.core.upstream.UpstreamResponse;
import io.github.openaiproxy.testsupport.TestSubscriber;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.http.HttpHeaders;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.Deflater;
import java.util.zip.DeflaterOutputStream;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class DecodedBodyTest {
    private static final byte[] TEXT =
            ("data: {\"choices\":[{\"delta\":{\"content\":\"\u65e5\u672c\ud83d\ude00\"}}]}\r\n\r\n"
                            + "data: [DONE]\r\n\r\n")
                    .repeat(20)
                    .getBytes(StandardCharsets.UTF_8);

    private final TestPublisher upstream = new TestPublisher();

    private TestSubscriber decode(String coding) {
        UpstreamResponse decoded = DecodedBody.decoded(new UpstreamResponse(
                200,
                HttpHeaders.of(
                        Map.of(
                                "content-type", List.of("text/event-stream"),
                                "content-encoding", List.of(coding),
                                "content-length", List.of("123")),
                        (n, v) -> true),
                upstream));
        assertThat(decoded.headers().map()).containsOnlyKeys("content-type");
        TestSubscriber client = new TestSubscriber(Long.MAX_VALUE);
        decoded.body().subscribe(client);
        return client;
    }

    private static byte[] decodedBytes(TestSubscriber client) {
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        client.items().forEach(all::writeBytes);
        return all.toByteArray();
    }

    @Test
    void aGzipBodySplitAtEveryByteIsDecodedWhole() throws IOException {
        byte[] coded = gzip(TEXT);
        for (int at = 0; at <= coded.length; at++) {
            TestPublisher source = new TestPublisher();
            UpstreamResponse decoded = DecodedBody.decoded(new UpstreamResponse(
                    200, HttpHeaders.of(Map.of("Content-Encoding", List.of(" GZIP ")), (n, v) -> true), source));
            TestSubscriber client = new TestSubscriber(Long.MAX_VALUE);
            decoded.body().subscribe(client);
            source.emit(Arrays.copyOfRange(coded, 0, at));
            source.emit(Arrays.copyOfRange(coded, at, coded.length));
            source.complete();
            assertThat(client.error()).as("split at %d", at).isNull();
            assertThat(decodedBytes(client)).as("split at %d", at).isEqualTo(TEXT);
            assertThat(client.completions()).isEqualTo(1);
        }
    }

    @Test
    void aHeaderWithEveryOptionalFieldReadByteByByteAndASecondMemberAreDecoded() throws IOException {
        ByteArrayOutputStream coded = new ByteArrayOutputStream();
        // FHCRC | FEXTRA | FNAME | FCOMMENT
        coded.writeBytes(new byte[] {0x1f, (byte) 0x8b, 8, 2 | 4 | 8 | 16, 0, 0, 0, 0, 0, 3});
        coded.writeBytes(new byte[] {3, 0, 'a', 'b', 'c'});
        coded.writeBytes("name.txt\0a comment\0".getBytes(StandardCharsets.ISO_8859_1));
        coded.writeBytes(new byte[] {0x12, 0x34});
        Deflater raw = new Deflater(Deflater.DEFAULT_COMPRESSION, true);
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        try (DeflaterOutputStream d = new DeflaterOutputStream(body, raw)) {
            d.write(TEXT);
        }
        coded.writeBytes(body.toByteArray());
        CRC32 crc = new CRC32();
        crc.update(TEXT);
        long c = crc.getValue();
        coded.writeBytes(new byte[] {(byte) c, (byte) (c >> 8), (byte) (c >> 16), (byte) (c >> 24), 0, 0, 0, 0});
        coded.writeBytes(gzip("second".getBytes(StandardCharsets.UTF_8)));
        TestSubscriber client = decode("x-gzip");

        for (byte b : coded.toByteArray()) {
            upstream.emit(new byte[] {b});
        }
        upstream.complete();

        assertThat(client.error()).isNull();
        assertThat(new String(decodedBytes(client), StandardCharsets.UTF_8))
                .isEqualTo(new String(TEXT, StandardCharsets.UTF_8) + "second");
    }

    @Test
    void aReadThatDecodesToNothingAsksForTheNextOneInsteadOfStallingTheClient() throws IOException {
        byte[] coded = gzip(TEXT);
        UpstreamResponse decoded = DecodedBody.decoded(new UpstreamResponse(
                200, HttpHeaders.of(Map.of("content-encoding", List.of("gzip")), (n, v) -> true), upstream));
        TestSubscriber client = new TestSubscriber(1);
        decoded.body().subscribe(client);

        for (int i = 0; i < 10; i++) {
            upstream.emit(new byte[] {coded[i]}); // the header alone: no bytes for the client yet
            assertThat(upstream.outstanding()).isEqualTo(1);
        }
        upstream.emit(Arrays.copyOfRange(coded, 10, coded.length));

        assertThat(client.items()).hasSize(1);
        assertThat(client.demandViolations()).isZero();
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void deflateIsDecodedZlibWrappedOrRaw(boolean wrapped) throws IOException {
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        try (DeflaterOutputStream d =
                new DeflaterOutputStream(body, new Deflater(Deflater.DEFAULT_COMPRESSION, !wrapped))) {
            d.write(TEXT);
        }
        byte[] coded = body.toByteArray();
        TestSubscriber client = decode("deflate");

        upstream.emit(Arrays.copyOfRange(coded, 0, 1));
        upstream.emit(Arrays.copyOfRange(coded, 1, coded.length));
        upstream.complete();

        assertThat(client.error()).isNull();
        assertThat(decodedBytes(client)).isEqualTo(TEXT);
    }

    @Test
    void bytesAfterTheLastMemberThatAreNoMemberAreIgnoredAsGzipItselfDoes() throws IOException {
        byte[] coded = gzip(TEXT);
        TestSubscriber client = decode("gzip");

        upstream.emit(coded, new byte[] {0});
        upstream.emit(new byte[] {0, 0, 0});
        upstream.complete();

        assertThat(client.error()).isNull();
        assertThat(decodedBytes(client)).isEqualTo(TEXT);
        assertThat(client.completions()).isEqualTo(1);
    }

    @Test
    void aBodyCutShortEndsWithAnError() throws IOException {
        byte[] coded = gzip(TEXT);
        TestSubscriber client = decode("gzip");

        upstream.emit(Arrays.copyOfRange(coded, 0, coded.length - 3));
        upstream.complete();

        assertThat(client.error()).isInstanceOf(IOException.class);
        assertThat(client.completions()).isZero();
    }

    @Test
    void aWrongChecksumOrBytesThatAreNoGzipEndWithAnError() throws IOException {
        byte[] coded = gzip(TEXT);
        coded[coded.length - 8] ^= 1;
        TestSubscriber client = decode("gzip");
        upstream.emit(coded);
        assertThat(client.error()).hasMessageContaining("checksum");

        TestPublisher other = new TestPublisher();
        TestSubscriber plain = new TestSubscriber(Long.MAX_VALUE);
        DecodedBody.decoded(new UpstreamResponse(
                        200, HttpHeaders.of(Map.of("content-encoding", List.of("gzip")), (n, v) -> true), other))
                .body()
                .subscribe(plain);
        other.emit("data: not compressed\n\n");
        assertThat(plain.error()).isInstanceOf(IOException.class);
        assertThat(plain.items()).isEmpty();
    }

    @Test
    void aReadThatExpandsPastTheBoundEndsWithAnErrorInsteadOfFillingTheHeap() throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GZIPOutputStream z = new GZIPOutputStream(out)) {
            byte[] zeros = new byte[1024 * 1024];
            for (int i = 0; i < 64; i++) {
                z.write(zeros);
            }
        }
        byte[] bomb = out.toByteArray();
        assertThat(bomb.length).isLessThan(128 * 1024);
        TestSubscriber client = decode("gzip");

        upstream.emit(bomb);

        assertThat(client.error()).hasMessageContaining("decodes to more than");
    }

    @Test
    void aHeaderNameThatNeverEndsIsRefusedInsteadOfHeldWithEveryRead() {
        TestSubscriber client = decode("gzip");
        // FNAME set, then a name without its terminating zero, a read at a time.
        upstream.emit(new byte[] {0x1f, (byte) 0x8b, 8, 8, 0, 0, 0, 0, 0, 3});
        byte[] name = new byte[16 * 1024];
        Arrays.fill(name, (byte) 'a');
        for (int i = 0; i < 4; i++) {
            upstream.emit(name);
        }
        assertThat(client.error())
                .as("after 64 KiB of name, as long as an extra field may be")
                .isNull();
        for (int i = 0; i < 2 && client.error() == null; i++) {
            upstream.emit(name);
        }

        assertThat(client.error()).hasMessageContaining("gzip header longer than");
        assertThat(client.items()).isEmpty();
    }

    @Test
    void aClientThatCancelsMidStreamCancelsTheUpstreamAndNothingMoreIsDecoded() throws IOException {
        byte[] coded = gzip(TEXT);
        TestSubscriber client = decode("gzip");
        upstream.emit(Arrays.copyOfRange(coded, 0, coded.length / 2));
        int before = client.items().size();
        assertThat(before).isPositive();

        client.cancel();
        // A read already on its way when the client left: the inflater is let go at the cancel, not decoded into.
        upstream.emit(Arrays.copyOfRange(coded, coded.length / 2, coded.length));
        upstream.complete();

        assertThat(upstream.isCancelled()).isTrue();
        assertThat(client.items()).hasSize(before);
        assertThat(client.error()).isNull();
        assertThat(client.completions()).isZero();
    }

    @Test
    void anEmptyBodyAndAnotherCodingPassAsTheyAre() {
        TestSubscriber client = decode("gzip");
        upstream.complete();
        assertThat(client.error()).isNull();
        assertThat(client.completions()).isEqualTo(1);

        UpstreamResponse br = new UpstreamResponse(
                200, HttpHeaders.of(Map.of("content-encoding", List.of("br")), (n, v) -> true), upstream);
        assertThat(DecodedBody.decoded(br)).isSameAs(br);
    }

    static byte[] gzip(byte[] bytes) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GZIPOutputStream z = new GZIPOutputStream(out)) {
            z.write(bytes);
        }
        return out.toByteArray();
    }
}
