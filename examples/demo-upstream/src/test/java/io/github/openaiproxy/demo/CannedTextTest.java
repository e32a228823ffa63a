package io.github.openaiproxy.demo;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class CannedTextTest {

    @Test
    void quotesTheUserOnOneLineAndClipsLongMessages() {
        assertThat(CannedText.reply("two\n  lines"))
                .isEqualTo("[demo] This is a canned reply from the offline demo upstream. You said: \"two lines\"");
        assertThat(CannedText.reply("x".repeat(500))).endsWith("\"" + "x".repeat(CannedText.MAX_ECHO) + "...\"");
    }

    @Test
    void saysSoWhenThereIsNothingToEcho() {
        assertThat(CannedText.reply(null)).startsWith(CannedText.PREFIX).doesNotContain("You said");
        assertThat(CannedText.reply("   ")).doesNotContain("You said");
    }

    @Test
    void findsTheLastUserMessageAmongOtherRoles() {
        var messages = HttpTestClient.json("""
                [{"role":"user","content":"one"},{"role":"user","content":"two"},
                 {"role":"assistant","content":"three"},{"role":"tool","content":"four"}]""");

        assertThat(CannedText.lastUserText(messages)).isEqualTo("two");
        assertThat(CannedText.lastUserText(HttpTestClient.json("[]"))).isNull();
        assertThat(CannedText.lastUserText(HttpTestClient.json("{}"))).isNull();
    }

    @Test
    void joinsTextPartsAndNamesOtherParts() {
        var content = HttpTestClient.json("""
                [{"type":"input_text","text":"look"},{"type":"input_image","image_url":"x"},
                 {"type":"input_audio"},{"type":"file"},{"type":"refusal","refusal":"no"}]""");

        assertThat(CannedText.contentText(content)).isEqualTo("look [image] [audio] [file]");
    }
}
