package io.github.openaiproxy.demo;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;

/** The canned reply, which echoes the user's last message so a newcomer sees the round trip work. */
final class CannedText {
    static final String PREFIX = "[demo] This is a canned reply from the offline demo upstream.";
    /** How much of the user's message is echoed, in code points. */
    static final int MAX_ECHO = 200;

    private CannedText() {}

    /** The reply to a user message; {@code userText} may be {@code null} when there was none. */
    static String reply(String userText) {
        String said = userText == null ? "" : oneLine(userText);
        if (said.isEmpty()) {
            return PREFIX + " Send a user message and it is echoed here.";
        }
        return PREFIX + " You said: \"" + clip(said) + "\"";
    }

    /**
     * The text of the last {@code user} item of a Chat Completions {@code messages} array or a Responses
     * {@code input} array (both use {@code role} and {@code content}); {@code null} when there is none.
     */
    static String lastUserText(JsonNode items) {
        if (items == null || !items.isArray()) {
            return null;
        }
        for (int i = items.size() - 1; i >= 0; i--) {
            JsonNode item = items.get(i);
            if (item.isObject() && "user".equals(Json.text(item, "role"))) {
                return contentText(item.get("content"));
            }
        }
        return null;
    }

    /**
     * The text of a message's {@code content}: a string, or an array of parts whose text parts are joined
     * and whose other parts (images, audio, files) are named in brackets.
     */
    static String contentText(JsonNode content) {
        if (content == null || content.isNull()) {
            return "";
        }
        if (content.isTextual()) {
            return content.textValue();
        }
        if (!content.isArray()) {
            return "";
        }
        List<String> parts = new ArrayList<>();
        for (JsonNode part : content) {
            if (part.isTextual()) {
                parts.add(part.textValue());
                continue;
            }
            String type = part.isObject() ? Json.text(part, "type") : null;
            if (type == null) {
                continue;
            }
            switch (type) {
                case "text", "input_text", "output_text" -> {
                    String text = Json.text(part, "text");
                    if (text != null) {
                        parts.add(text);
                    }
                }
                case "image_url", "input_image" -> parts.add("[image]");
                case "input_audio" -> parts.add("[audio]");
                case "file", "input_file" -> parts.add("[file]");
                default -> {
                    // Refusals, tool output and future part types carry nothing worth echoing.
                }
            }
        }
        return String.join(" ", parts);
    }

    /** Collapses line breaks and runs of spaces, so the echo reads as one quoted line. */
    private static String oneLine(String text) {
        return text.strip().replaceAll("\\s+", " ");
    }

    private static String clip(String text) {
        if (text.codePointCount(0, text.length()) <= MAX_ECHO) {
            return text;
        }
        return text.substring(0, text.offsetByCodePoints(0, MAX_ECHO)) + "...";
    }
}
