package io.github.openaiproxy.core.usage;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.openaiproxy.core.internal.Internal;

/** Counts tokens the way the model's tokenizer does. PLACEHOLDER: the usage branch replaces the bodies. */
@Internal
public final class TokenCounter {
    private static final TokenCounter STANDARD = new TokenCounter();

    private TokenCounter() {}

    /** The shared counter (tokenizers are loaded once, lazily). */
    public static TokenCounter standard() {
        return STANDARD;
    }

    /**
     * The input tokens a request body will use: chat {@code messages}, the Responses API's {@code input} and
     * {@code instructions}, a completion's {@code prompt}, an embedding's {@code input}, an image's {@code
     * prompt}. Never fails: an unexpected shape counts what it can.
     */
    public long inputTokens(String model, JsonNode body) {
        return body == null ? 0 : body.toString().length() / 4;
    }

    /** The tokens of a piece of text (for example the output relayed so far). */
    public long tokens(String model, String text) {
        return text == null ? 0 : text.length() / 4;
    }
}
