package io.github.openaiproxy.core.session;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.openaiproxy.core.error.ErrorStyle;
import io.github.openaiproxy.core.internal.Json;
import org.junit.jupiter.api.Test;

/** The session errors in both error shapes (the engine answers them in the shape of the route). */
class SessionErrorsTest {
    @Test
    void aBusyStoreIs503WithRetryAfterInBothStyles() throws Exception {
        var busy = SessionErrors.busy();
        assertThat(busy.status()).isEqualTo(503);
        assertThat(busy.headers()).containsEntry("Retry-After", "1");

        JsonNode openAi = Json.parse(ErrorStyle.OPENAI.render(busy));
        assertThat(openAi.at("/error/code").asText()).isEqualTo("session_store_busy");
        assertThat(openAi.at("/error/type").asText()).isEqualTo("server_error");
        JsonNode seed = Json.parse(ErrorStyle.SIMPLE.render(busy));
        assertThat(seed.get("error").asText()).isEqualTo("Service Unavailable");
        assertThat(seed.get("message").asText()).contains("busy");
    }

    @Test
    void theSizeErrorsAre413WithStableCodes() throws Exception {
        assertThat(Json.parse(ErrorStyle.OPENAI.render(SessionErrors.full(10)))
                        .at("/error/code")
                        .asText())
                .isEqualTo("session_full");
        assertThat(Json.parse(ErrorStyle.OPENAI.render(SessionErrors.messageTooLarge(10)))
                        .at("/error/code")
                        .asText())
                .isEqualTo("session_message_too_large");
        assertThat(SessionErrors.full(10).status()).isEqualTo(413);
        assertThat(SessionErrors.messageTooLarge(10).status()).isEqualTo(413);
    }
}
