package io.github.openaiproxy.spring.boot3;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.session.SessionStore;
import io.github.openaiproxy.graphql.GraphQlRoute;
import io.github.openaiproxy.spring.OpenAiProxyAutoConfiguration;
import io.github.openaiproxy.spring.OpenAiProxyServletAutoConfiguration;
import io.github.openaiproxy.spring.actuate.OpenAiProxySanitizingAutoConfiguration;
import io.github.openaiproxy.spring.graphql.OpenAiProxyGraphQlAutoConfiguration;
import io.github.openaiproxy.spring.health.OpenAiProxyHealthAutoConfiguration;
import io.github.openaiproxy.spring.metrics.MicrometerProxyObserver;
import io.github.openaiproxy.spring.metrics.OpenAiProxyMetricsAutoConfiguration;
import io.github.openaiproxy.spring.session.OpenAiProxySessionsAutoConfiguration;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;
import org.springframework.boot.SpringBootVersion;
import org.springframework.boot.actuate.endpoint.SanitizableData;
import org.springframework.boot.actuate.endpoint.SanitizingFunction;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.autoconfigure.jdbc.DataSourceAutoConfiguration;
import org.springframework.boot.autoconfigure.sql.init.SqlInitializationAutoConfiguration;
import org.springframework.boot.context.properties.source.InvalidConfigurationPropertyValueException;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.boot.test.context.runner.WebApplicationContextRunner;
import org.springframework.boot.web.servlet.ServletRegistrationBean;

/** The auto-configurations, built against Spring Boot 4, on Spring Boot 3.5. */
class SpringBoot3AutoConfigurationTests {
    private final WebApplicationContextRunner runner = new WebApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(
                    OpenAiProxyAutoConfiguration.class,
                    OpenAiProxyServletAutoConfiguration.class,
                    OpenAiProxyMetricsAutoConfiguration.class,
                    OpenAiProxyHealthAutoConfiguration.class))
            .withBean(MeterRegistry.class, SimpleMeterRegistry::new);

    @Test
    void runsOnSpringBoot3() {
        assertThat(SpringBootVersion.getVersion()).startsWith("3.5.");
    }

    @Test
    void masksTheProxysSecretsForActuatorsEndpoints() {
        new ApplicationContextRunner()
                .withConfiguration(AutoConfigurations.of(OpenAiProxySanitizingAutoConfiguration.class))
                .run(context -> {
                    SanitizingFunction function = context.getBean(SanitizingFunction.class);
                    assertThat(function.apply(new SanitizableData(null, "openai.proxy.api-key", "sk-secret"))
                                    .getValue())
                            .isEqualTo(SanitizableData.SANITIZED_VALUE);
                    for (String key : new String[] {
                        "OPENAI_PROXY_UPSTREAMS_2_KEYS", "openai.proxy.upstreams.x.headers[0]", "OPENAI_API_KEY"
                    }) {
                        assertThat(function.apply(new SanitizableData(null, key, "secret"))
                                        .getValue())
                                .as(key)
                                .isEqualTo(SanitizableData.SANITIZED_VALUE);
                    }
                    assertThat(function.apply(
                                            new SanitizableData(null, "JAVA_TOOL_OPTIONS", "-Dopenai.proxy.api-key=k"))
                                    .getValue())
                            .isEqualTo("-Dopenai.proxy.api-key=" + SanitizableData.SANITIZED_VALUE);
                    assertThat(function.apply(new SanitizableData(null, "openai.proxy.chat.model", "gpt-4o"))
                                    .getValue())
                            .isEqualTo("gpt-4o");
                });
    }

    @Test
    void mountsTheProxyWithMetricsButNoHealthIndicator() {
        runner.withPropertyValues("openai.proxy.path=/ai", "openai.proxy.api-key=sk-test")
                .run(context -> {
                    assertThat(context).hasNotFailed().hasSingleBean(ProxyEngine.class);
                    assertThat(context.getBean("openAiProxyRegistration", ServletRegistrationBean.class)
                                    .getUrlMappings())
                            .containsExactly("/ai/*");
                    assertThat(context).hasSingleBean(MicrometerProxyObserver.class);
                    // Spring Boot 3's health API lives in another package: the indicator needs Spring Boot 4.
                    assertThat(context).doesNotHaveBean("openAiProxyHealthIndicator");
                });
    }

    @Test
    void backsOffWhenTheApplicationDefinesItsConfig() {
        runner.withBean(
                        ProxyConfig.class,
                        () -> ProxyConfig.builder().path("/mine").build())
                .run(context -> assertThat(
                                context.getBean(ProxyEngine.class).config().path())
                        .isEqualTo("/mine"));
    }

    @Test
    void canBeDisabled() {
        runner.withPropertyValues("openai.proxy.enabled=false")
                .run(context -> assertThat(context)
                        .doesNotHaveBean(ProxyEngine.class)
                        .doesNotHaveBean(MicrometerProxyObserver.class));
    }

    @Test
    void sessionsGoToSpringBootsDataSourceAfterTheApplicationsSchemaScripts() {
        new ApplicationContextRunner()
                .withConfiguration(AutoConfigurations.of(
                        DataSourceAutoConfiguration.class,
                        SqlInitializationAutoConfiguration.class,
                        OpenAiProxyAutoConfiguration.class,
                        OpenAiProxySessionsAutoConfiguration.class,
                        OpenAiProxyGraphQlAutoConfiguration.class))
                // The script drops the session tables: had it run after the store was built, they would be gone.
                .withPropertyValues("spring.sql.init.schema-locations=classpath:db/drop-session-tables.sql")
                .run(context -> {
                    assertThat(context).hasNotFailed();
                    assertThat(context.getBean(SessionStore.class).blocking()).isTrue();
                    try (Connection c = context.getBean(DataSource.class).getConnection();
                            Statement s = c.createStatement();
                            ResultSet rs = s.executeQuery("SELECT COUNT(*) FROM openai_proxy_sessions")) {
                        assertThat(rs.next()).isTrue();
                    }
                    assertThat(context).hasSingleBean(GraphQlRoute.class);
                    assertThat(context.getBean(ProxyEngine.class).hasRoute("/graphql"))
                            .isTrue();
                });
    }

    @Test
    void failsOnAnInvalidValueNamingTheProperty() {
        runner.withPropertyValues("openai.proxy.cors.allowed-origins=*", "openai.proxy.cors.allow-credentials=true")
                .run(context -> {
                    assertThat(context).hasFailed();
                    assertThat(context.getStartupFailure())
                            .hasRootCauseInstanceOf(InvalidConfigurationPropertyValueException.class)
                            .hasMessageContaining("openai.proxy.cors.allow-credentials");
                });
    }
}
