package io.github.openaiproxy.benchmarks.load;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Base64;
import java.util.Random;
import java.util.zip.CRC32;

/** The bodies the stub upstream answers and the benchmark clients send, in OpenAI's wire format. */
public final class StubBodies {
    /** The last event of a chat stream. */
    public static final byte[] DONE = "data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8);

    private static final String REPLY = "Here is a short overview of how server-sent events work. The server keeps"
            + " the HTTP response open and writes one event at a time; each event is a few lines starting with"
            + " a field name such as data, followed by a blank line. The client reads the stream incrementally"
            + " and hands every complete event to the application as soon as the blank line arrives, so the"
            + " first tokens of a long answer appear after a few hundred milliseconds instead of after the"
            + " whole completion is done. Proxies must therefore forward each event as soon as it is complete"
            + " and must never buffer the response, or the user sees nothing until the end. The same holds for"
            + " load balancers and content delivery networks in front of the proxy: turn buffering off for the"
            + " text/event-stream content type, keep idle timeouts above the longest pause between events.";

    private StubBodies() {}

    /** A non-streamed {@code chat.completion} of about 1.4 KB. */
    public static byte[] chatCompletion() {
        String json = "{\"id\":\"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG\",\"object\":\"chat.completion\","
                + "\"created\":1741570283,\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,"
                + "\"message\":{\"role\":\"assistant\",\"content\":\"" + REPLY + "\",\"refusal\":null,"
                + "\"annotations\":[]},\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":"
                + "36,\"completion_tokens\":118,\"total_tokens\":154,\"prompt_tokens_details\":{\"cached_tokens\":0,"
                + "\"audio_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,"
                + "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}},\"service_tier\":\"default\","
                + "\"system_fingerprint\":\"fp_06737a9306\"}";
        return json.getBytes(StandardCharsets.UTF_8);
    }

    /** An image generation response with one {@code b64_json} image of about {@code mib} MiB. */
    public static byte[] imageResponse(int mib) {
        // Base64 grows 3 bytes to 4: raw bytes for a b64 text of about mib MiB.
        byte[] raw = new byte[mib * 1024 * 1024 / 4 * 3];
        new Random(42).nextBytes(raw);
        String head = "{\"created\":1741570283,\"data\":[{\"b64_json\":\"";
        String tail = "\",\"revised_prompt\":\"A watercolor lighthouse at dusk\"}],\"usage\":{\"total_tokens\":4160,"
                + "\"input_tokens\":50,\"output_tokens\":4110}}";
        byte[] b64 = Base64.getEncoder().encode(raw);
        byte[] h = head.getBytes(StandardCharsets.US_ASCII);
        byte[] t = tail.getBytes(StandardCharsets.US_ASCII);
        byte[] out = Arrays.copyOf(h, h.length + b64.length + t.length);
        System.arraycopy(b64, 0, out, h.length, b64.length);
        System.arraycopy(t, 0, out, h.length + b64.length, t.length);
        return out;
    }

    /**
     * One {@code chat.completion.chunk} event. {@code stub_seq} and {@code stub_ts} (the sender's
     * {@link System#nanoTime()}) let a client check order and measure each event's delay.
     */
    public static byte[] chunkEvent(int seq, long nanoTime) {
        String json = "data: {\"id\":\"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG\",\"object\":\"chat.completion.chunk\","
                + "\"created\":1741570283,\"model\":\"gpt-4o-mini-2024-07-18\",\"service_tier\":\"default\","
                + "\"system_fingerprint\":\"fp_06737a9306\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" token"
                + seq + "\"},\"logprobs\":null,\"finish_reason\":null}],\"stub_seq\":" + seq + ",\"stub_ts\":"
                + nanoTime
                + "}\n\n";
        return json.getBytes(StandardCharsets.UTF_8);
    }

    /** A typical {@code POST /v1/chat/completions} request body (what an SDK sends). */
    public static byte[] chatRequest(boolean stream) {
        return ("{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"system\",\"content\":\"You are a helpful"
                        + " assistant.\"},{\"role\":\"user\",\"content\":\"Explain server-sent events in one paragraph.\"}],"
                        + "\"temperature\":0.7,\"max_tokens\":300"
                        + (stream ? ",\"stream\":true" : "") + "}")
                .getBytes(StandardCharsets.UTF_8);
    }

    /** A typical body of the simple route {@code POST /} (defaults filled in by the proxy). */
    public static byte[] simpleChatRequest() {
        return ("{\"messages\":[{\"role\":\"system\",\"content\":\"You are a helpful assistant.\"},{\"role\":"
                        + "\"user\",\"content\":\"Explain server-sent events in one paragraph.\"}]}")
                .getBytes(StandardCharsets.UTF_8);
    }

    /** A {@code POST /v1/images/generations} request body. */
    public static byte[] imageRequest() {
        return ("{\"model\":\"gpt-image-1\",\"prompt\":\"A watercolor lighthouse at dusk\",\"size\":\"1024x1024\"}")
                .getBytes(StandardCharsets.UTF_8);
    }

    public static long crc(byte[] bytes) {
        CRC32 c = new CRC32();
        c.update(bytes);
        return c.getValue();
    }
}
