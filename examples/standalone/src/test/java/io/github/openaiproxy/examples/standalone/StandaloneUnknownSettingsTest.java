package io.github.openaiproxy.examples.standalone;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A misspelt {@code OPENAI_PROXY_*} variable is not ignored without a word: the server's start logs one warning
 * per unknown variable, naming it and the closest known one, never its value; known variables (core's, the
 * GraphQL module's, the server's own, templated policies') get none.
 */
class StandaloneUnknownSettingsTest {
    static final String SECRET = "sk-typo-secret-0123456789";

    final Logger serverLog = Logger.getLogger(StandaloneServer.class.getName());
    final List<LogRecord> logged = new CopyOnWriteArrayList<>();
    final Handler capture = new Handler() {
        @Override
        public void publish(LogRecord record) {
            logged.add(record);
        }

        @Override
        public void flush() {}

        @Override
        public void close() {}
    };

    @BeforeEach
    void captureLog() {
        serverLog.addHandler(capture);
    }

    @AfterEach
    void releaseLog() {
        serverLog.removeHandler(capture);
    }

    @Test
    void eachUnknownVariableIsOneWarningWithTheClosestKnownOneAndNoValue() throws Exception {
        Map<String, String> env = Map.of(
                "OPENAI_PROXY_SESSIONS_STORE", "memory",
                "OPENAI_PROXY_LIMITS_STOR", "memory",
                "OPENAI_PROXY_ACCESS_KEY", SECRET,
                "OPENAI_PROXY_ZZZ_NOTHING_LIKE_IT", "1",
                // The regular spelling of a variable named otherwise is not read: the real name is suggested.
                "OPENAI_PROXY_CORS_ALLOWED_ORIGINS", "https://app.example.com",
                // Known: core, GraphQL, the server's own, a templated policy rule; and a variable outside the prefix.
                "OPENAI_PROXY_CHAT_MODEL", "gpt-4o-mini",
                "OPENAI_PROXY_GRAPHQL_MAX_DEPTH", "12",
                "OPENAI_PROXY_SHUTDOWN_GRACE_PERIOD", "0s",
                "OPENAI_PROXY_POLICIES_FREE_MAX_TOKENS", "100",
                "OPENAI_API_KEY", "sk-test-1234567890");
        try (StandaloneServer server = StandaloneServer.start(new StandaloneOptions(0, "127.0.0.1", false), env)) {
            HttpResponse<String> health = HttpClient.newHttpClient()
                    .send(
                            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/healthz"))
                                    .build(),
                            HttpResponse.BodyHandlers.ofString());
            assertThat(health.statusCode())
                    .as("unknown variables do not stop the start")
                    .isEqualTo(200);
        }
        List<String> warnings = logged.stream()
                .filter(r -> r.getLevel().intValue() >= Level.WARNING.intValue())
                .map(LogRecord::getMessage)
                .filter(m -> m.contains("unknown setting"))
                .toList();
        assertThat(warnings)
                .containsExactlyInAnyOrder(
                        "unknown setting OPENAI_PROXY_ACCESS_KEY is ignored; did you mean OPENAI_PROXY_ACCESS_KEYS?",
                        "unknown setting OPENAI_PROXY_LIMITS_STOR is ignored; did you mean OPENAI_PROXY_LIMITS_STORE?",
                        "unknown setting OPENAI_PROXY_ZZZ_NOTHING_LIKE_IT is ignored",
                        "unknown setting OPENAI_PROXY_CORS_ALLOWED_ORIGINS is ignored;"
                                + " did you mean OPENAI_PROXY_ALLOWED_ORIGINS?");
        assertThat(logged).noneMatch(r -> String.valueOf(r.getMessage()).contains(SECRET));
    }
}
