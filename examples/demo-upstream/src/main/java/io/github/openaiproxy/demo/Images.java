package io.github.openaiproxy.demo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.openaiproxy.demo.Reply.EventStream;
import io.github.openaiproxy.demo.Reply.JsonReply;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Set;

/**
 * {@code POST /v1/images/generations}: {@code n} demo pictures, as {@code data:} URLs of SVGs for
 * {@code response_format=url} (the DALL-E default) or as base64 PNGs for {@code b64_json} (always, for the
 * GPT image models, as OpenAI does). A GPT image model with {@code "stream": true} answers as OpenAI does, with
 * {@code partial_images} {@code image_generation.partial_image} events, then {@code image_generation.completed}.
 */
final class Images {
    static final String DEFAULT_MODEL = "dall-e-2";
    /** OpenAI's longest prompt (gpt-image-1's); it also bounds the text drawn into every picture. */
    static final int MAX_PROMPT_LENGTH = 32_000;

    private static final Set<String> GPT_IMAGE_SIZES = Set.of("1024x1024", "1024x1536", "1536x1024");
    private static final Set<String> GPT_IMAGE_QUALITIES = Set.of("low", "medium", "high");

    private Images() {}

    static Reply generate(JsonNode body) {
        String prompt = Json.text(body, "prompt");
        if (prompt == null) {
            throw ApiError.missingParameter("prompt").exception();
        }
        if (prompt.isBlank()) {
            throw ApiError.invalidRequest("Invalid 'prompt': it must not be empty.", "prompt", "empty_string")
                    .exception();
        }
        if (prompt.length() > MAX_PROMPT_LENGTH) {
            throw ApiError.invalidRequest(
                            "Invalid 'prompt': string too long. Expected a string with maximum length "
                                    + MAX_PROMPT_LENGTH + ".",
                            "prompt",
                            "string_above_max_length")
                    .exception();
        }
        String model = Json.text(body, "model");
        model = model == null || model.isBlank() ? DEFAULT_MODEL : model;
        boolean gptImage = model.startsWith("gpt-image");
        int n = Json.intInRange(body, "n", 1, 10, 1);
        String format = responseFormat(body, gptImage);
        String requestedSize = Json.text(body, "size");
        ImageSize size = ImageSize.parse(requestedSize);
        if (Json.flag(body, "stream")) {
            if (!gptImage) {
                // OpenAI streams only the GPT image models; a DALL-E model asked for a stream is refused.
                throw ApiError.invalidRequest(
                                "Streaming is not supported for model '" + model + "'.", "stream", "invalid_value")
                        .exception();
            }
            return stream(body, prompt, n, requestedSize, size);
        }

        ObjectNode root = Json.object();
        root.put("created", Instant.now().getEpochSecond());
        ArrayNode data = Json.array();
        for (int i = 0; i < n; i++) {
            ObjectNode image = Json.object();
            if (format.equals("url")) {
                image.put("url", DemoSvg.dataUrl(prompt, size, i));
            } else {
                image.put("b64_json", Base64.getEncoder().encodeToString(DemoPng.render(prompt, size, i)));
            }
            if (model.startsWith("dall-e-3")) {
                image.put("revised_prompt", "A canned DEMO placeholder picture standing in for: " + prompt);
            }
            data.add(image);
        }
        root.set("data", data);
        if (gptImage) {
            // Fields OpenAI adds for the GPT image models only, with values its enums allow.
            root.put("background", "opaque");
            root.put("output_format", "png");
            root.put("size", oneOf(GPT_IMAGE_SIZES, requestedSize, "1024x1024"));
            root.put("quality", oneOf(GPT_IMAGE_QUALITIES, Json.text(body, "quality"), "medium"));
            root.set("usage", usage(Tokens.estimate(prompt), n));
        }
        return JsonReply.ok(root);
    }

    /**
     * The GPT image models' stream: per picture, {@code partial_images} (0-3) partial events, then its completed
     * event; the usage rides on the completed events, as OpenAI sends it.
     */
    private static Reply stream(JsonNode body, String prompt, int n, String requestedSize, ImageSize size) {
        int partials = Json.intInRange(body, "partial_images", 0, 3, 0);
        long created = Instant.now().getEpochSecond();
        List<SseEvent> events = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String b64 = Base64.getEncoder().encodeToString(DemoPng.render(prompt, size, i));
            for (int p = 0; p < partials; p++) {
                ObjectNode partial = streamEvent("image_generation.partial_image", b64, created, body, requestedSize);
                partial.put("partial_image_index", p);
                events.add(SseEvent.named("image_generation.partial_image", partial));
            }
            ObjectNode completed = streamEvent("image_generation.completed", b64, created, body, requestedSize);
            completed.set("usage", usage(Tokens.estimate(prompt), 1));
            events.add(SseEvent.named("image_generation.completed", completed));
        }
        return new EventStream(events);
    }

    private static ObjectNode streamEvent(String type, String b64, long created, JsonNode body, String requestedSize) {
        ObjectNode event = Json.object();
        event.put("type", type);
        event.put("b64_json", b64);
        event.put("created_at", created);
        event.put("size", oneOf(GPT_IMAGE_SIZES, requestedSize, "1024x1024"));
        event.put("quality", oneOf(GPT_IMAGE_QUALITIES, Json.text(body, "quality"), "medium"));
        event.put("background", "opaque");
        event.put("output_format", "png");
        return event;
    }

    private static String responseFormat(JsonNode body, boolean gptImage) {
        JsonNode v = body.get("response_format");
        if (gptImage || v == null || v.isNull()) {
            return gptImage ? "b64_json" : "url";
        }
        if (v.isTextual() && (v.textValue().equals("url") || v.textValue().equals("b64_json"))) {
            return v.textValue();
        }
        throw ApiError.invalidRequest(
                        "Invalid 'response_format': expected one of 'url' or 'b64_json'.",
                        "response_format",
                        "invalid_value")
                .exception();
    }

    /** The value when the set holds it, else the fallback; {@code null} is never in {@link Set#of} sets. */
    private static String oneOf(Set<String> allowed, String value, String fallback) {
        return value != null && allowed.contains(value) ? value : fallback;
    }

    private static ObjectNode usage(int textTokens, int images) {
        // Roughly what a medium 1024x1024 image costs in output tokens.
        int outputTokens = 1056 * images;
        ObjectNode details = Json.object();
        details.put("text_tokens", textTokens);
        details.put("image_tokens", 0);
        ObjectNode usage = Json.object();
        usage.put("total_tokens", textTokens + outputTokens);
        usage.put("input_tokens", textTokens);
        usage.put("output_tokens", outputTokens);
        usage.set("input_tokens_details", details);
        return usage;
    }
}
