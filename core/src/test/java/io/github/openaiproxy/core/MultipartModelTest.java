package io.github.openaiproxy.core;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The multipart scan that finds an upload's model before its first file part. */
class MultipartModelTest {
    private static final MultipartModel FORM = new MultipartModel("xyz");

    private static MultipartModel.Result scan(String body) {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        return FORM.scan(b, b.length);
    }

    private static String field(String name, String value) {
        return "--xyz\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + value + "\r\n";
    }

    private static final String FILE =
            "--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp3\"\r\nContent-Type: audio/mpeg\r\n\r\n";

    @Test
    void theBoundaryComesFromAFormDataType() {
        assertThat(MultipartModel.of("multipart/form-data; boundary=xyz")).contains(FORM);
        assertThat(MultipartModel.of("Multipart/Form-Data;Boundary=\"xyz\"")).contains(FORM);
        assertThat(MultipartModel.of("multipart/form-data")).isEmpty();
        assertThat(MultipartModel.of("multipart/form-data; boundary=")).isEmpty();
        assertThat(MultipartModel.of("multipart/form-data; boundary=" + "b".repeat(71)))
                .isEmpty();
        assertThat(MultipartModel.of("application/octet-stream")).isEmpty();
        assertThat(MultipartModel.isFormData("multipart/form-data; charset=x")).isTrue();
        assertThat(MultipartModel.isFormData("multipart/mixed; boundary=xyz")).isFalse();
    }

    @Test
    void aModelBeforeTheFileIsFoundWithWhereItsValueIs() {
        String body = field("model", "whisper-1") + field("language", "en") + FILE + "bytes";
        MultipartModel.Result r = scan(body);
        assertThat(r).isInstanceOf(MultipartModel.Found.class);
        MultipartModel.Found f = (MultipartModel.Found) r;
        assertThat(f.model()).isEqualTo("whisper-1");
        assertThat(body.substring(f.start(), f.end())).isEqualTo("whisper-1");
    }

    @Test
    void otherFieldsAndAPreambleBeforeTheModelAreSkipped() {
        MultipartModel.Result r =
                scan("a preamble\r\n" + field("language", "en") + field("model", "gpt-4o-transcribe") + FILE);
        assertThat(r).isEqualTo(new MultipartModel.Found("gpt-4o-transcribe", 129, 146));
    }

    @Test
    void aFileBeforeTheModelOrNoModelAtAllNamesNone() {
        assertThat(scan(FILE + "bytes\r\n" + field("model", "whisper-1"))).isInstanceOf(MultipartModel.None.class);
        assertThat(scan(field("purpose", "batch") + "--xyz--\r\n")).isInstanceOf(MultipartModel.None.class);
        String fileNamedModel = "--xyz\r\nContent-Disposition: form-data; name=\"model\"; filename=\"m\"\r\n\r\nx\r\n";
        assertThat(scan(fileNamedModel)).isInstanceOf(MultipartModel.None.class);
    }

    @Test
    void anUnfinishedStartAsksForMore() {
        assertThat(scan("")).isInstanceOf(MultipartModel.More.class);
        assertThat(scan("--xy")).isInstanceOf(MultipartModel.More.class);
        assertThat(scan("--xyz\r\nContent-Disposition: form-data; name=\"model\"\r\n"))
                .isInstanceOf(MultipartModel.More.class);
        assertThat(scan("--xyz\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1"))
                .as("the value's end not seen yet")
                .isInstanceOf(MultipartModel.More.class);
        assertThat(scan("no delimiter at all")).isInstanceOf(MultipartModel.More.class);
    }

    @Test
    void theBoundaryFollowedByOtherBytesIsContentNotADelimiter() {
        // The prompt's text holds "--xyzz": Go's and Python's parsers read it as the prompt's content, so the model
        // the upstream reads is the one after it, and the proxy must route by that one.
        String body = field("prompt", "hi\r\n--xyzz\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1")
                + field("model", "gpt-4o-transcribe")
                + "--xyz--\r\n";
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        int at = body.indexOf("gpt-4o-transcribe");

        assertThat(FORM.scan(b, b.length)).isEqualTo(new MultipartModel.Found("gpt-4o-transcribe", at, at + 17));
        assertThat(FORM.reader().read(b, 0, b.length))
                .isEqualTo(new MultipartModel.FoundAt("gpt-4o-transcribe", at, at + 17));
        byte[] opening = ("--xyz-\r\n" + body).getBytes(StandardCharsets.UTF_8);
        assertThat(FORM.scan(opening, opening.length))
                .as("a body opening with a near miss: a preamble")
                .isInstanceOf(MultipartModel.Found.class);
    }
}
