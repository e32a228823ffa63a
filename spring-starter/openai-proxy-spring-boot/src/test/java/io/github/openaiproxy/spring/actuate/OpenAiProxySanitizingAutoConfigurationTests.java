package io.github.openaiproxy.spring.actuate;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.spring.OpenAiProxyAutoConfiguration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.springframework.boot.actuate.endpoint.SanitizableData;
import org.springframework.boot.actuate.endpoint.SanitizingFunction;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.test.context.FilteredClassLoader;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;

/** The masking function's conditions, and what it leaves alone. */
class OpenAiProxySanitizingAutoConfigurationTests {
    final ApplicationContextRunner runner = new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(
                    OpenAiProxyAutoConfiguration.class, OpenAiProxySanitizingAutoConfiguration.class))
            .withPropertyValues("openai.proxy.api-key=sk-test");

    @Test
    void anApplicationWithoutActuatorStartsWithoutTheFunction() {
        runner.withClassLoader(new FilteredClassLoader("org.springframework.boot.actuate"))
                .run(context -> assertThat(context)
                        .hasNotFailed()
                        .doesNotHaveBean(OpenAiProxySanitizingAutoConfiguration.BEAN_NAME));
    }

    @Test
    void anApplicationsOwnFunctionStaysBesideIt() {
        runner.withBean(
                        "appSanitizer",
                        SanitizingFunction.class,
                        () -> data -> data.getKey().equals("app.db-password")
                                ? data.withValue(SanitizableData.SANITIZED_VALUE)
                                : data)
                .run(context -> assertThat(context.getBeansOfType(SanitizingFunction.class))
                        .containsOnlyKeys("appSanitizer", OpenAiProxySanitizingAutoConfiguration.BEAN_NAME));
    }

    @Test
    void theApplicationsOwnSettingsAreNotMasked() {
        for (String key : List.of(
                "app.api-key",
                "spring.ai.openai.api-key",
                "openai.proxy.chat.model",
                "openai.proxy.upstreams.azure.base-url",
                "openai.proxy.upstreams.keys.models",
                "openai.proxy.access.jwt.jwks-url",
                "openai.proxy.images.s3.bucket")) {
            assertThat(OpenAiProxySanitizingAutoConfiguration.isSecret(key))
                    .as(key)
                    .isFalse();
        }
        for (String key : List.of(
                "openai.proxy.api-key",
                "openai.proxy.apiKey",
                "OPENAI_PROXY_API_KEY",
                "OPENAI_API_KEY",
                "openai.proxy.upstreams.azure-east.keys[1]",
                "OPENAI_PROXY_UPSTREAMS_2_KEYS_0_",
                "openai.proxy.upstreams.x.headers",
                "openai.proxy.limits.redisUrl",
                "openai.proxy.admin.tokens[0]",
                "OPENAI_PROXY_ACCESS_KEYS")) {
            assertThat(OpenAiProxySanitizingAutoConfiguration.isSecret(key))
                    .as(key)
                    .isTrue();
        }
    }
}
