package io.github.openaiproxy.core.error;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class ErrorStyleTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void seedShapeHasTitleAndMessage() {
        assertThat(text(ErrorStyle.SIMPLE.render(ProxyError.keyNotConfigured())))
                .isEqualTo("{\"error\":\"Configuration Error\",\"message\":\"OpenAI API key is not configured\"}");
    }

    @Test
    void seedShapeAddsParamAndUpstreamStatusWhenKnown() {
        assertThat(text(ErrorStyle.SIMPLE.render(
                        ProxyError.badRequest("Invalid prompt", "prompt is required", "prompt"))))
                .isEqualTo("{\"error\":\"Invalid prompt\",\"message\":\"prompt is required\",\"param\":\"prompt\"}");
        assertThat(text(ErrorStyle.SIMPLE.render(ProxyError.upstreamError(429, "slow down"))))
                .isEqualTo("{\"error\":\"OpenAI API Error\",\"message\":\"OpenAI API returned 429: slow down\","
                        + "\"status\":429}");
    }

    @Test
    void openAiShapeAlwaysHasTheFourFields() {
        assertThat(text(ErrorStyle.OPENAI.render(ProxyError.upstreamTimeout())))
                .isEqualTo("{\"error\":{\"message\":\"The upstream API did not answer in time\","
                        + "\"type\":\"server_error\",\"param\":null,\"code\":\"upstream_timeout\"}}");
    }

    @Test
    void textFromTheRequestIsEscaped() throws IOException {
        String path = "/v1/\"quoted\"\\back\nline/\u00e9\u4f60\ud83c\udf0d";
        ProxyError error = ProxyError.notFound("POST", path);

        for (ErrorStyle style : ErrorStyle.values()) {
            var node = JSON.readTree(style.render(error));
            String message = style == ErrorStyle.SIMPLE
                    ? node.get("message").textValue()
                    : node.get("error").get("message").textValue();
            assertThat(message).isEqualTo("No route for POST " + path);
        }
    }

    private static String text(byte[] bytes) {
        return new String(bytes, StandardCharsets.UTF_8);
    }
}
