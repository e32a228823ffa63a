package io.github.openaiproxy.core.usage;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import io.github.openaiproxy.core.flow.ServerSentEvents;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Meters one event stream, event by event: the usage (a chat chunk's {@code usage} object, the Responses API's
 * {@code response.usage} of {@code response.completed}), the answering model (the first event that names
 * one), images ({@code image_generation.completed} events) and, for an estimate when the stream ends without
 * usage, the tokens of the text relayed so far (chat deltas' {@code content}, {@code refusal} and tool-call
 * {@code arguments}, compatible servers' thinking in {@code reasoning_content} or {@code reasoning}, the Responses
 * API's {@code delta}s), counted in batches of about
 * {@value #COUNT_BATCH} characters so memory stays bounded; and whether the upstream ended it with an error (an
 * {@code error} event or member, the Responses API's {@code error} and {@code response.failed}).
 *
 * <p>With {@code injected} (the proxy asked for usage the client did not), the usage-only chunk is dropped and
 * each chunk's top-level {@code "usage":null} member is cut out of its bytes (with its comma), so the client
 * gets exactly the bytes it would have got without the injection; nothing else in the bytes is touched.
 * The methods are synchronized: a client's cancel reads the meter from another thread.
 */
final class StreamMeter {
    /** Characters of relayed text counted at once. */
    static final int COUNT_BATCH = 4096;
    /** Events larger than this are not walked for text (an image's base64, not a token delta). */
    static final int MAX_WALKED_EVENT = 256 * 1024;

    private static final JsonFactory FACTORY = JsonFactory.builder().build();

    private static final byte[] DATA = "data:".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] ERROR = "{\"error\"".getBytes(StandardCharsets.US_ASCII);

    private final String requestModel;
    private final TokenCounter counter;
    private final boolean injected;

    private TokenUsage usage;
    private String model;
    private String serviceTier;
    private int images;
    private boolean upstreamError;
    private long countedTokens;
    private final StringBuilder pending = new StringBuilder();
    /**
     * Whether the last event was dropped. The relay hands the blank lines after an event over with the next one
     * (and the LF of a CRLF whose CR ended a read): those of a dropped event go with it.
     */
    private boolean afterDrop;
    /** Whether the next event is the stream's first (which may start with a byte order mark). */
    private boolean first = true;

    // What the walk of the current event found.
    private int usageNullFrom = -1;
    private int usageNullTo = -1;
    private int choiceCount;
    private boolean eventUsage;

    StreamMeter(String requestModel, TokenCounter counter, boolean injected) {
        this.requestModel = requestModel;
        this.counter = counter;
        this.injected = injected;
    }

    /**
     * Reads one event; returns what to relay: {@code event} itself, the event without its
     * {@code "usage":null}, or {@code null} to drop it (the usage chunk the client did not ask for).
     */
    synchronized List<ByteBuffer> onEvent(List<ByteBuffer> event) {
        if (afterDrop) {
            afterDrop = false;
            event = withoutLeadingBlankLines(event);
            if (event == null) {
                return null;
            }
        }
        byte[] a;
        int from;
        int to;
        if (event.size() == 1 && event.get(0).hasArray()) {
            ByteBuffer b = event.get(0);
            a = b.array();
            from = b.arrayOffset() + b.position();
            to = from + b.remaining();
        } else {
            a = ServerSentEvents.bytes(event);
            from = 0;
            to = a.length;
        }
        int start = from;
        if (first) {
            first = false;
            if (to - from >= 3 && a[from] == (byte) 0xEF && a[from + 1] == (byte) 0xBB && a[from + 2] == (byte) 0xBF) {
                start += 3; // a UTF-8 byte order mark: a client's parser skips it, so its first line is a data line
            }
        }
        int data = dataLine(a, start, to);
        if (data < 0) {
            return event;
        }
        int end = lineEnd(a, data, to);
        if (dataLine(a, end, to) >= 0) {
            // JSON over several data lines: OpenAI does not send it; read the usage, and drop the usage chunk the
            // client did not ask for (its "usage":null members are left: where they sit in the lines is the server's).
            String joined = ServerSentEvents.data(event);
            if (joined != null) {
                byte[] j = joined.getBytes(StandardCharsets.UTF_8);
                if (walk(j, 0, j.length, true) && injected && usageOnly()) {
                    return dropped(a, from, to);
                }
            }
            return event;
        }
        while (data < end && (a[data] == ' ' || a[data] == '\t')) {
            data++; // a value's further leading spaces are JSON's whitespace: the client's parser skips them
        }
        if (startsWith(a, data, end, ERROR)) {
            upstreamError = true;
            return event;
        }
        if (data == end || a[data] != '{') {
            return event; // [DONE], or not an object
        }
        if (end - data > MAX_WALKED_EVENT) {
            large(a, data, end);
            // The "usage":null the proxy's injection added is cut from a large chunk too (its text is not counted).
            if (!injected || !walk(a, data, end, false)) {
                return event;
            }
        } else if (!walk(a, data, end, true)) {
            return event;
        }
        if (injected && usageOnly()) {
            return dropped(a, from, to);
        }
        if (injected && usageNullFrom >= 0) {
            return cut(a, from, to, usageNullFrom, usageNullTo);
        }
        return event;
    }

    /**
     * Whether the event walked last is a usage chunk without a choice: OpenAI's has {@code "choices":[]}, some
     * compatible servers' have them {@code null} or none at all (which openai-java cannot read as a chunk).
     */
    private boolean usageOnly() {
        return eventUsage && choiceCount == 0;
    }

    /** The usage the upstream reported; {@code null} when none yet. */
    synchronized TokenUsage usage() {
        return usage;
    }

    synchronized String model() {
        return model;
    }

    /**
     * The last {@code service_tier} an event named (the Responses API's {@code response.completed} names the tier
     * that served it, where {@code response.created} said {@code auto}); {@code null} when none.
     */
    synchronized String serviceTier() {
        return serviceTier;
    }

    synchronized int images() {
        return images;
    }

    /** Whether the upstream's stream carried an error event. */
    synchronized boolean upstreamError() {
        return upstreamError;
    }

    /** The tokens of the text relayed so far. */
    synchronized long outputTokens() {
        if (pending.length() > 0) {
            countedTokens += counter.tokens(countingModel(), pending.toString());
            pending.setLength(0);
        }
        return countedTokens;
    }

    /**
     * Walks one event's JSON; returns whether it is well-formed (only then may its bytes be edited). Without
     * {@code countText} the relayed text is not kept for an estimate (an event too large to be a token delta).
     */
    private boolean walk(byte[] a, int from, int to, boolean countText) {
        usageNullFrom = -1;
        usageNullTo = -1;
        choiceCount = 0;
        eventUsage = false;
        try (JsonParser p = FACTORY.createParser(a, from, to - from)) {
            int depth = 0;
            int choicesAt = -1; // the depth inside the choices array, -1 outside it
            // The depth inside OpenRouter's reasoning_details, -1 outside it: a copy of the delta's reasoning.
            int detailsAt = -1;
            boolean inResponse = false;
            String field = null;
            int fieldAt = -1;
            JsonToken t;
            while ((t = p.nextToken()) != null) {
                switch (t) {
                    case FIELD_NAME -> {
                        field = p.currentName();
                        // A location is an object: taken only where a cut may need it, not for every member.
                        fieldAt = injected && depth == 1 && "usage".equals(field)
                                ? (int) p.currentTokenLocation().getByteOffset()
                                : -1;
                    }
                    case START_OBJECT, START_ARRAY -> {
                        if (t == JsonToken.START_OBJECT
                                && "usage".equals(field)
                                && (depth == 1 || (depth == 2 && inResponse))) {
                            usage = UsageNumbers.read(p, 0);
                            eventUsage = true;
                            field = null;
                            continue;
                        }
                        if (depth == 1 && t == JsonToken.START_OBJECT && "error".equals(field)) {
                            upstreamError = true; // OpenRouter's chunk that failed: an error beside its choices
                        }
                        if (depth == 1 && t == JsonToken.START_ARRAY && "choices".equals(field)) {
                            choicesAt = depth + 1;
                        } else if (choicesAt >= 0 && detailsAt < 0 && "reasoning_details".equals(field)) {
                            detailsAt = depth + 1;
                        } else if (depth == 1 && t == JsonToken.START_OBJECT && "response".equals(field)) {
                            inResponse = true;
                        } else if (depth == 2 && choicesAt == 2) {
                            choiceCount++;
                        }
                        depth++;
                        field = null;
                    }
                    case END_OBJECT, END_ARRAY -> {
                        depth--;
                        if (depth < choicesAt) {
                            choicesAt = -1;
                        }
                        if (depth < detailsAt) {
                            detailsAt = -1;
                        }
                        if (depth <= 1) {
                            inResponse = false;
                        }
                    }
                    case VALUE_NULL -> {
                        if (depth == 1 && "usage".equals(field) && fieldAt >= 0) {
                            usageNullFrom = from + fieldAt;
                            usageNullTo = from + (int) p.currentTokenLocation().getByteOffset() + 4;
                        }
                    }
                    case VALUE_STRING ->
                        text(p, field, depth, choicesAt >= 0 && detailsAt < 0 && countText, inResponse, countText);
                    default -> {}
                }
            }
            return depth == 0;
        } catch (IOException | RuntimeException e) {
            usageNullFrom = -1;
            return false;
        }
    }

    private void text(JsonParser p, String field, int depth, boolean inChoices, boolean inResponse, boolean countText)
            throws IOException {
        if (field == null) {
            return;
        }
        if (depth == 1 && "type".equals(field)) {
            String type = p.getText();
            if ("error".equals(type) || "response.failed".equals(type)) {
                upstreamError = true; // the Responses API's error event, and a response that failed
            }
        }
        if ("service_tier".equals(field) && (depth == 1 || (depth == 2 && inResponse))) {
            // Every chat chunk of OpenAI names it: a String only when it changes, not one per event.
            if (serviceTier == null || !sameText(p, serviceTier)) {
                serviceTier = p.getText();
            }
        }
        if (model == null && "model".equals(field) && (depth == 1 || (depth == 2 && inResponse))) {
            String m = p.getText();
            // Azure's first chunk (its prompt filter results) names the model "": the next one names it.
            model = m.isEmpty() ? null : m;
        } else if (inChoices) {
            if ("content".equals(field)
                    || "refusal".equals(field)
                    || "arguments".equals(field)
                    || "text".equals(field)
                    // The thinking that compatible servers stream beside the answer (output the upstream bills):
                    // DeepSeek's and SGLang's reasoning_content, vLLM's, Ollama's, Groq's and OpenRouter's reasoning.
                    || "reasoning_content".equals(field)
                    || "reasoning".equals(field)) {
                relayed(p.getText());
            }
        } else if (depth == 1 && countText) {
            if ("delta".equals(field)) {
                relayed(p.getText()); // response.output_text.delta, response.function_call_arguments.delta, ...
            } else if ("type".equals(field)) {
                String type = p.getText();
                if (type.startsWith("image_") && type.endsWith(".completed")) {
                    images++;
                }
            }
        }
    }

    /** Whether the parser's current string is {@code s}, compared without making a String of it. */
    private static boolean sameText(JsonParser p, String s) throws IOException {
        int n = p.getTextLength();
        if (n != s.length()) {
            return false;
        }
        char[] chars = p.getTextCharacters();
        int at = p.getTextOffset();
        for (int i = 0; i < n; i++) {
            if (chars[at + i] != s.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    /** An event too large to walk: its usage object, found by a byte scan, and whether it completes an image. */
    private void large(byte[] a, int from, int to) {
        int head = Math.min(to, from + 256);
        String start = new String(a, from, head - from, StandardCharsets.ISO_8859_1);
        if (start.contains("\"type\":\"image_") && start.contains(".completed\"")) {
            images++;
        }
        int at = UsageNumbers.usageObject(a, from, to);
        if (at >= 0) {
            try (JsonParser p = FACTORY.createParser(a, at, to - at)) {
                if (p.nextToken() == JsonToken.START_OBJECT) {
                    usage = UsageNumbers.read(p, 0);
                }
            } catch (IOException | RuntimeException e) {
                // not readable: no usage from this event
            }
        }
    }

    private void relayed(String text) {
        pending.append(text);
        if (pending.length() >= COUNT_BATCH) {
            countedTokens += counter.tokens(countingModel(), pending.toString());
            pending.setLength(0);
        }
    }

    private String countingModel() {
        return model != null ? model : requestModel;
    }

    /**
     * What is left of a dropped event: {@code null}, or the blank lines it starts with. Those end the event
     * before it (the LF of a CRLF whose CR ended a read travels with the next event), so they stay; the next
     * event's leading blank lines end this one, and go ({@link #afterDrop}).
     */
    private List<ByteBuffer> dropped(byte[] a, int from, int to) {
        afterDrop = true;
        int lead = from;
        while (lead < to && (a[lead] == '\r' || a[lead] == '\n')) {
            lead++;
        }
        return lead == from
                ? null
                : List.of(ByteBuffer.wrap(a, from, lead - from).slice());
    }

    /** The event without the blank lines (CRs and LFs) it starts with; {@code null} when nothing else is left. */
    private static List<ByteBuffer> withoutLeadingBlankLines(List<ByteBuffer> event) {
        for (int i = 0; i < event.size(); i++) {
            ByteBuffer b = event.get(i);
            int p = b.position();
            while (p < b.limit() && (b.get(p) == '\n' || b.get(p) == '\r')) {
                p++;
            }
            if (p == b.limit()) {
                continue; // all blank (or empty): the next buffer
            }
            if (i == 0 && p == b.position()) {
                return event;
            }
            List<ByteBuffer> out = new ArrayList<>(event.size() - i);
            out.add(b.duplicate().position(p).slice());
            out.addAll(event.subList(i + 1, event.size()));
            return out;
        }
        return null;
    }

    /** The event's bytes without {@code [cutFrom, cutTo)} and the comma that separated that member. */
    private static List<ByteBuffer> cut(byte[] a, int from, int to, int cutFrom, int cutTo) {
        int before = cutFrom;
        while (before > from && isSpace(a[before - 1])) {
            before--;
        }
        if (before > from && a[before - 1] == ',') {
            cutFrom = before - 1; // ,"usage":null
        } else {
            int after = cutTo;
            while (after < to && isSpace(a[after])) {
                after++;
            }
            if (after < to && a[after] == ',') {
                cutTo = after + 1; // "usage":null, (the first member)
            }
        }
        // The event as two views of its bytes around the cut, not a copy: the upstream's buffer is the relay's alone.
        return List.of(
                ByteBuffer.wrap(a, from, cutFrom - from).slice(),
                ByteBuffer.wrap(a, cutTo, to - cutTo).slice());
    }

    /** Where the value of the event's first {@code data:} line starts (after one optional space); -1: none. */
    private static int dataLine(byte[] a, int from, int to) {
        int line = from;
        while (line < to) {
            if (startsWith(a, line, to, DATA)) {
                int v = line + DATA.length;
                return v < to && a[v] == ' ' ? v + 1 : v;
            }
            line = lineEnd(a, line, to);
            if (line < to && a[line] == '\r') {
                line++;
            }
            if (line < to && a[line] == '\n') {
                line++;
            }
        }
        return -1;
    }

    private static int lineEnd(byte[] a, int from, int to) {
        int i = from;
        while (i < to && a[i] != '\n' && a[i] != '\r') {
            i++;
        }
        return i;
    }

    private static boolean startsWith(byte[] a, int from, int to, byte[] prefix) {
        if (to - from < prefix.length) {
            return false;
        }
        for (int i = 0; i < prefix.length; i++) {
            if (a[from + i] != prefix[i]) {
                return false;
            }
        }
        return true;
    }

    private static boolean isSpace(byte b) {
        return b == ' ' || b == '\t' || b == '\n' || b == '\r';
    }
}
