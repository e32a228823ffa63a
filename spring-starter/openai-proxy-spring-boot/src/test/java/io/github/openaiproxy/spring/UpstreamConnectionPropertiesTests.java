package io.github.openaiproxy.spring;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.openaiproxy.core.upstream.NamedUpstream;
import io.github.openaiproxy.core.upstream.UpstreamConnection;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.springframework.boot.context.properties.source.InvalidConfigurationPropertyValueException;

/** {@code openai.proxy.upstreams.<name>.*} connection properties bind onto core's, and refusals name the property. */
class UpstreamConnectionPropertiesTests {
    @Test
    void theConnectionPropertiesBindAndAForbiddenHeaderIsRefusedNamingTheProperty() {
        OpenAiProxyProperties p = new OpenAiProxyProperties();
        OpenAiProxyProperties.UpstreamProperties azure = new OpenAiProxyProperties.UpstreamProperties();
        azure.setKind(NamedUpstream.Kind.AZURE);
        azure.setBaseUrl("https://example.openai.azure.com");
        azure.setKeys(List.of("az-1"));
        azure.setAzureApi("v1");
        azure.setHeaders(List.of("X-Team=search"));
        azure.setConnectTimeout(Duration.ofSeconds(3));
        azure.setTimeout(Duration.ofSeconds(20));
        azure.setHttpVersion("2");
        p.getUpstreams().put("azure", azure);
        OpenAiProxyProperties.UpstreamProperties local = new OpenAiProxyProperties.UpstreamProperties();
        local.setKind(NamedUpstream.Kind.COMPATIBLE);
        local.setBaseUrl("http://127.0.0.1:8000/v1");
        local.setKeys(List.of("local-key"));
        local.setAuth("header:X-Api-Key");
        p.getUpstreams().put("local", local);

        var upstreams = OpenAiProxyPropertiesAdapter.toBuilder(p).build().upstreams();

        UpstreamConnection c = upstreams.get("azure").orElseThrow().connection();
        assertThat(c.azureApi()).isEqualTo(UpstreamConnection.AzureApi.V1);
        assertThat(c.headers()).containsEntry("X-Team", "search");
        assertThat(c.connectTimeout()).contains(Duration.ofSeconds(3));
        assertThat(c.timeout()).contains(Duration.ofSeconds(20));
        assertThat(c.httpVersion()).contains(io.github.openaiproxy.core.upstream.UpstreamConfig.HttpVersion.HTTP_2);
        assertThat(upstreams.get("local").orElseThrow().connection().httpVersion())
                .isEmpty();
        assertThat(upstreams.get("local").orElseThrow().connection().auth().header())
                .isEqualTo("X-Api-Key");

        azure.setHttpVersion("h2c");
        assertThatThrownBy(() -> OpenAiProxyPropertiesAdapter.toBuilder(p))
                .isInstanceOfSatisfying(
                        InvalidConfigurationPropertyValueException.class,
                        e -> assertThat(e.getName()).isEqualTo("openai.proxy.upstreams.azure.http-version"))
                .hasMessageContaining("expected auto, 1.1 or 2");
        azure.setHttpVersion(null);

        azure.setHeaders(List.of("Authorization=Bearer sk-sneaky"));
        assertThatThrownBy(() -> OpenAiProxyPropertiesAdapter.toBuilder(p))
                .isInstanceOfSatisfying(
                        InvalidConfigurationPropertyValueException.class,
                        e -> assertThat(e.getName()).isEqualTo("openai.proxy.upstreams.azure.headers"))
                .message()
                .doesNotContain("sk-sneaky");
    }
}
