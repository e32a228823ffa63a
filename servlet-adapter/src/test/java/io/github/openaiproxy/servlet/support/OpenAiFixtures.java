package io.github.openaiproxy.servlet.support;

import java.util.List;

/**
 * Response bodies as OpenAI's API sends them (shapes from {@code openai-openapi/openapi.yaml};
 * integration-tests' {@code UpstreamContractTest} validates each against its schema).
 */
public final class OpenAiFixtures {
    private OpenAiFixtures() {}

    public static final String CHAT_MODEL = "gpt-4o-mini-2024-07-18";

    /** {@code CreateChatCompletionResponse}. */
    public static final String CHAT_COMPLETION = """
            {
              "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
              "object": "chat.completion",
              "created": 1741570283,
              "model": "gpt-4o-mini-2024-07-18",
              "choices": [
                {
                  "index": 0,
                  "message": {
                    "role": "assistant",
                    "content": "Hello! How can I help you today?",
                    "refusal": null,
                    "annotations": []
                  },
                  "logprobs": null,
                  "finish_reason": "stop"
                }
              ],
              "usage": {
                "prompt_tokens": 9,
                "completion_tokens": 9,
                "total_tokens": 18,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {
                  "reasoning_tokens": 0,
                  "audio_tokens": 0,
                  "accepted_prediction_tokens": 0,
                  "rejected_prediction_tokens": 0
                }
              },
              "service_tier": "default",
              "system_fingerprint": "fp_06737a9306"
            }
            """;

    /** {@code CreateEmbeddingResponse} (floats, as asked for with {@code encoding_format: float}). */
    public static final String EMBEDDING = """
            {
              "object": "list",
              "data": [
                {"object": "embedding", "index": 0, "embedding": [0.0023064255, -0.009327292, 0.015797347, -0.0077780345]}
              ],
              "model": "text-embedding-3-small",
              "usage": {"prompt_tokens": 5, "total_tokens": 5}
            }
            """;

    /** {@code ImagesResponse} for dall-e-3 with {@code response_format: url}. */
    public static final String IMAGES = """
            {
              "created": 1713833628,
              "data": [
                {
                  "url": "https://oaidalleapiprodscus.blob.core.windows.net/private/org-abc/user-def/img-ghi.png?st=2024-04-23T00%3A13%3A48Z&sig=abc",
                  "revised_prompt": "A cute baby sea otter floating on its back in calm blue water."
                }
              ]
            }
            """;

    /** {@code ListModelsResponse}. */
    public static final String MODELS = """
            {
              "object": "list",
              "data": [
                {"id": "gpt-4o-mini", "object": "model", "created": 1721172741, "owned_by": "system"},
                {"id": "text-embedding-3-small", "object": "model", "created": 1705948997, "owned_by": "system"},
                {"id": "dall-e-3", "object": "model", "created": 1698785189, "owned_by": "system"}
              ]
            }
            """;

    /** {@code Model}. */
    public static final String MODEL = """
            {"id": "gpt-4o-mini", "object": "model", "created": 1721172741, "owned_by": "system"}
            """;

    /** {@code ErrorResponse} for a 429. */
    public static final String RATE_LIMITED = """
            {
              "error": {
                "message": "Rate limit reached for gpt-4o-mini in organization org-abc123 on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s.",
                "type": "requests",
                "param": null,
                "code": "rate_limit_exceeded"
              }
            }
            """;

    /** {@code ErrorResponse} for a 500. */
    public static final String SERVER_ERROR = """
            {
              "error": {
                "message": "The server had an error while processing your request. Sorry about that!",
                "type": "server_error",
                "param": null,
                "code": null
              }
            }
            """;

    /** {@code ErrorResponse} for a 401 that echoes part of the key, as OpenAI's does. */
    public static String unauthorized(String key) {
        String echo = key.substring(0, 8) + "*".repeat(key.length() - 12) + key.substring(key.length() - 4);
        return """
                {
                  "error": {
                    "message": "Incorrect API key provided: %s. You can find your API key at https://platform.openai.com/account/api-keys.",
                    "type": "invalid_request_error",
                    "param": null,
                    "code": "invalid_api_key"
                  }
                }
                """.formatted(echo);
    }

    /** One {@code CreateChatCompletionStreamResponse} chunk as the JSON of a {@code data:} line. */
    public static String chunk(String deltaJson, String finishReason) {
        return "{\"id\":\"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG\",\"object\":\"chat.completion.chunk\","
                + "\"created\":1741570283,\"model\":\"" + CHAT_MODEL + "\",\"service_tier\":\"default\","
                + "\"system_fingerprint\":\"fp_06737a9306\",\"choices\":[{\"index\":0,\"delta\":" + deltaJson
                + ",\"logprobs\":null,\"finish_reason\":" + (finishReason == null ? "null" : "\"" + finishReason + "\"")
                + "}]}";
    }

    /** The chunk that carries one piece of text. */
    public static String contentChunk(String text) {
        return chunk("{\"content\":\"" + text + "\"}", null);
    }

    /**
     * A whole chat completion stream as OpenAI sends it: a role chunk, one chunk per piece, a chunk with
     * {@code finish_reason}, then {@code [DONE]}.
     */
    public static List<String> chatStreamEvents(String... pieces) {
        List<String> events = new java.util.ArrayList<>();
        events.add("data: " + chunk("{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null}", null) + "\n\n");
        for (String p : pieces) {
            events.add("data: " + contentChunk(p) + "\n\n");
        }
        events.add("data: " + chunk("{}", "stop") + "\n\n");
        events.add("data: [DONE]\n\n");
        return events;
    }
}
