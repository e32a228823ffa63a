package io.github.openaiproxy.core;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The reader that goes on past file parts for an upload's model, fed in pieces of any size. */
class MultipartModelReaderTest {
    private static final MultipartModel FORM = new MultipartModel("xyz");

    private static String field(String name, String value) {
        return "--xyz\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + value + "\r\n";
    }

    private static String file(String name, String content) {
        return "--xyz\r\nContent-Disposition: form-data; name=\"" + name + "\"; filename=\"a.mp3\"\r\n"
                + "Content-Type: audio/mpeg\r\n\r\n" + content + "\r\n";
    }

    private static final String END = "--xyz--\r\n";

    /** The reader's answer to {@code body} fed {@code piece} bytes at a time. */
    private static MultipartModel.Result read(String body, int piece) {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        MultipartModel.Reader reader = FORM.reader();
        for (int at = 0; at < b.length; at += piece) {
            MultipartModel.Result r = reader.read(b, at, Math.min(piece, b.length - at));
            if (!(r instanceof MultipartModel.More)) {
                return r;
            }
        }
        return new MultipartModel.More();
    }

    @ParameterizedTest(name = "pieces of {0}")
    @ValueSource(ints = {1, 2, 3, 7, 64, 100_000})
    void theModelAfterTheFileIsFoundWhereItsValueIs(int piece) {
        String body =
                file("file", "ID3 --xy\r\n--xy bytes") + field("language", "en") + field("model", "whisper-1") + END;

        MultipartModel.Result r = read(body, piece);

        assertThat(r).isInstanceOf(MultipartModel.FoundAt.class);
        MultipartModel.FoundAt f = (MultipartModel.FoundAt) r;
        assertThat(f.model()).isEqualTo("whisper-1");
        assertThat(body.substring((int) f.start(), (int) f.end())).isEqualTo("whisper-1");
    }

    @ParameterizedTest(name = "pieces of {0}")
    @ValueSource(ints = {1, 5, 100_000})
    void aModelFirstAPreambleAndAnEmptyModelAreFound(int piece) {
        String first = field("model", "m") + file("file", "x") + END;
        int at = first.indexOf("\r\n\r\nm") + 4;
        assertThat(read(first, piece)).isEqualTo(new MultipartModel.FoundAt("m", at, at + 1));
        String preamble = "junk before\r\n" + field("model", "gpt-4o-transcribe") + END;
        assertThat(read(preamble, piece))
                .isInstanceOfSatisfying(
                        MultipartModel.FoundAt.class, f -> assertThat(f.model()).isEqualTo("gpt-4o-transcribe"));
        assertThat(read(field("model", "") + END, piece))
                .isInstanceOfSatisfying(
                        MultipartModel.FoundAt.class, f -> assertThat(f.model()).isEmpty());
    }

    @Test
    void aFileNamedModelIsNoModelAndTheClosingDelimiterEndsTheSearch() {
        assertThat(read(file("model", "whisper-1") + field("prompt", "p") + END, 3))
                .isInstanceOf(MultipartModel.None.class);
    }

    @Test
    void anOversizedHeaderOrModelEndsTheSearch() {
        String header = "--xyz\r\nContent-Disposition: form-data; name=\"model\"\r\nX-Pad: " + "a".repeat(20_000)
                + "\r\n\r\nwhisper-1\r\n" + END;
        assertThat(read(header, 1000)).isInstanceOf(MultipartModel.None.class);
        assertThat(read(field("model", "w".repeat(20_000)) + END, 1000)).isInstanceOf(MultipartModel.None.class);
    }

    @Test
    void aBodyCutShortIsMore() {
        assertThat(read(
                        file("file", "bytes") + "--xyz\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhi",
                        4))
                .isInstanceOf(MultipartModel.More.class);
    }
}
