package io.github.openaiproxy.core.upstream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatIllegalArgumentException;

import java.net.URI;
import java.time.Duration;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class UpstreamConfigTest {

    @ParameterizedTest(name = "{0} + {1}")
    @CsvSource({
        "https://api.openai.com, /v1/chat/completions, https://api.openai.com/v1/chat/completions",
        "https://api.openai.com/, /v1/chat/completions, https://api.openai.com/v1/chat/completions",
        "https://api.openai.com/v1, /v1/chat/completions, https://api.openai.com/v1/chat/completions",
        "https://api.openai.com/v1/, /v1/chat/completions, https://api.openai.com/v1/chat/completions",
        "https://api.openai.com/v1//, /v1/models/gpt-4o, https://api.openai.com/v1/models/gpt-4o",
        "http://127.0.0.1:8089, /v1/embeddings, http://127.0.0.1:8089/v1/embeddings",
        "https://gateway.example.com/openai, /v1/models, https://gateway.example.com/openai/models",
        "https://gateway.example.com/openai/v1, /v1/models, https://gateway.example.com/openai/v1/models",
        "https://gateway.example.com/v1beta, /v1/models, https://gateway.example.com/v1beta/models",
        "https://generativelanguage.googleapis.com/v1beta/openai/, /v1/chat/completions,"
                + " https://generativelanguage.googleapis.com/v1beta/openai/chat/completions",
        "https://models.github.ai/inference, /v1/chat/completions, https://models.github.ai/inference/chat/completions",
        "https://openrouter.ai/api/v1, /v1/chat/completions, https://openrouter.ai/api/v1/chat/completions"
    })
    void resolvesOpenAiPathsOnTheBaseUrl(String base, String path, String expected) {
        assertThat(config(base).resolve(path, null)).isEqualTo(URI.create(expected));
    }

    @Test
    void appendsTheRawQueryUnchanged() {
        assertThat(config("https://api.openai.com/v1").resolve("/v1/models", "limit=2&after=a%2Fb"))
                .isEqualTo(URI.create("https://api.openai.com/v1/models?limit=2&after=a%2Fb"));
    }

    @Test
    void defaultsAreOpenAiWithSdkLikeTimeouts() {
        UpstreamConfig d = UpstreamConfig.defaults();

        assertThat(d.baseUrl()).isEqualTo(URI.create("https://api.openai.com"));
        assertThat(d.connectTimeout()).isEqualTo(Duration.ofSeconds(10));
        assertThat(d.responseTimeout()).isEqualTo(Duration.ofMinutes(10));
        assertThat(d.organization()).isEmpty();
        assertThat(d.project()).isEmpty();
        assertThat(d.client()).isEqualTo(UpstreamConfig.ClientKind.AUTO);
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "ftp://api.openai.com",
                "api.openai.com",
                "/v1",
                "https://api.openai.com/v1?x=1",
                "https://api.openai.com/v1#frag",
                "https://user:pass@api.openai.com"
            })
    void refusesBaseUrlsThatAreNotPlainHttpUrls(String base) {
        assertThatIllegalArgumentException().isThrownBy(() -> config(base)).withMessageContaining("base-url");
    }

    @Test
    void unparsableBaseUrlIsReportedNamingTheSetting() {
        assertThatIllegalArgumentException()
                .isThrownBy(() -> UpstreamConfig.parseBaseUrl("https://api openai com"))
                .withMessageContaining("base-url");
    }

    @Test
    void refusesNonPositiveTimeoutsNamingTheSetting() {
        UpstreamConfig d = UpstreamConfig.defaults();

        assertThatIllegalArgumentException()
                .isThrownBy(() -> d.withConnectTimeout(Duration.ZERO))
                .withMessageContaining("connect-timeout");
        assertThatIllegalArgumentException()
                .isThrownBy(() -> d.withResponseTimeout(Duration.ofSeconds(-1)))
                .withMessageContaining("response-timeout");
        assertThatIllegalArgumentException()
                .isThrownBy(() -> d.withResponseTimeout(null))
                .withMessageContaining("response-timeout");
    }

    @Test
    void blankOrganizationAndProjectMeanNone() {
        UpstreamConfig c = UpstreamConfig.defaults().withOrganization(" ").withProject(null);

        assertThat(c.organization()).isEqualTo(Optional.empty());
        assertThat(c.project()).isEqualTo(Optional.empty());
        assertThat(UpstreamConfig.defaults().withOrganization("org-1").organization())
                .contains("org-1");
    }

    private static UpstreamConfig config(String base) {
        return UpstreamConfig.defaults().withBaseUrl(URI.create(base));
    }
}
