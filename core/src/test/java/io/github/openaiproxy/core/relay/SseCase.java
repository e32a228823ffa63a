package io.github.openaiproxy.core.relay;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * The framing table: upstream reads in, events out. Each event is expected byte for byte as the upstream
 * sent it; the last one of a stream that ends without a blank line is relayed as is.
 */
enum SseCase {
    LF_LINE_ENDINGS(List.of("data: a\n\ndata: b\n\n"), List.of("data: a\n\n", "data: b\n\n")),
    CRLF_LINE_ENDINGS(List.of("data: a\r\n\r\ndata: b\r\n\r\n"), List.of("data: a\r\n\r\n", "data: b\r\n\r\n")),
    CR_LINE_ENDINGS(List.of("data: a\r\rdata: b\r\r"), List.of("data: a\r\r", "data: b\r\r")),
    MIXED_LINE_ENDINGS(
            List.of("data: a\r\ndata: b\n\r\ndata: c\r\r"), List.of("data: a\r\ndata: b\n\r\n", "data: c\r\r")),
    MULTI_LINE_EVENT(
            List.of("event: delta\ndata: {\"a\":1}\ndata: {\"b\":2}\nid: 7\nretry: 1000\n\n"),
            List.of("event: delta\ndata: {\"a\":1}\ndata: {\"b\":2}\nid: 7\nretry: 1000\n\n")),
    COMMENT_EVENT(List.of(": keep-alive\n\ndata: a\n\n"), List.of(": keep-alive\n\n", "data: a\n\n")),
    SEVERAL_EVENTS_IN_ONE_READ(
            List.of("data: {\"n\":1}\n\ndata: {\"n\":2}\n\ndata: {\"n\":3}\n\ndata: [DONE]\n\n"),
            List.of("data: {\"n\":1}\n\n", "data: {\"n\":2}\n\n", "data: {\"n\":3}\n\n", "data: [DONE]\n\n")),
    ONE_EVENT_OVER_SEVERAL_READS(List.of("da", "ta: a", "\n", "\n"), List.of("data: a\n\n")),
    CRLF_SPLIT_BETWEEN_CR_AND_LF(List.of("data: a\r", "\n\r", "\n"), List.of("data: a\r\n\r\n")),
    EVENT_END_AND_NEXT_EVENT_IN_ONE_READ(
            List.of("data: a\n", "\ndata: b\n", "\n"), List.of("data: a\n\n", "data: b\n\n")),
    LEADING_STRAY_BLANK_LINES(List.of("\n\n\ndata: a\n\n"), List.of("\n\n\ndata: a\n\n")),
    LEADING_STRAY_CRLF_BLANK_LINES(List.of("\r\n\r\ndata: a\r\n\r\n"), List.of("\r\n\r\ndata: a\r\n\r\n")),
    EXTRA_BLANK_LINES_BETWEEN_EVENTS(List.of("data: a\n\n\n\ndata: b\n\n"), List.of("data: a\n\n", "\n\ndata: b\n\n")),
    TRAILING_EVENT_WITHOUT_BLANK_LINE(List.of("data: a\n\ndata: b\n"), List.of("data: a\n\n", "data: b\n")),
    TRAILING_EVENT_WITHOUT_LINE_END(List.of("data: a\n\ndata: [DONE]"), List.of("data: a\n\n", "data: [DONE]")),
    MULTI_BYTE_UTF8(
            List.of("data: {\"content\":\"h\u00e9llo \u4f60\u597d \ud83c\udf0d\"}\n\n"),
            List.of("data: {\"content\":\"h\u00e9llo \u4f60\u597d \ud83c\udf0d\"}\n\n")),
    EMPTY_STREAM(List.of(), List.of());

    final List<String> reads;
    final List<String> events;

    SseCase(List<String> reads, List<String> events) {
        this.reads = reads;
        this.events = events;
    }

    List<byte[]> readBytes() {
        return reads.stream().map(s -> s.getBytes(StandardCharsets.UTF_8)).toList();
    }

    /** The whole upstream body, for re-splitting at other positions. */
    byte[] wholeBody() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        readBytes().forEach(out::writeBytes);
        return out.toByteArray();
    }
}
