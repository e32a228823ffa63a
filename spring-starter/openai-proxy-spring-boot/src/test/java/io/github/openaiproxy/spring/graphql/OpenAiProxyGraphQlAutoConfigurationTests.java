package io.github.openaiproxy.spring.graphql;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.route.CustomRoute;
import io.github.openaiproxy.graphql.GraphQlOptions;
import io.github.openaiproxy.graphql.GraphQlRoute;
import io.github.openaiproxy.spring.OpenAiProxyAutoConfiguration;
import io.github.openaiproxy.spring.OpenAiProxyProperties;
import io.github.openaiproxy.spring.StartupFailures;
import io.github.openaiproxy.spring.TestBodies;
import io.github.openaiproxy.spring.session.OpenAiProxySessionsAutoConfiguration;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.test.context.FilteredClassLoader;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;

class OpenAiProxyGraphQlAutoConfigurationTests {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final ApplicationContextRunner runner = new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(
                    OpenAiProxyAutoConfiguration.class,
                    OpenAiProxySessionsAutoConfiguration.class,
                    OpenAiProxyGraphQlAutoConfiguration.class));

    @Test
    void mountsTheEndpointWhenTheModuleIsPresent() {
        runner.run(context -> {
            assertThat(context).hasSingleBean(GraphQlRoute.class);
            assertThat(context.getBean(GraphQlRoute.class).options()).isEqualTo(GraphQlOptions.DEFAULTS);
            ProxyEngine engine = context.getBean(ProxyEngine.class);
            assertThat(engine.hasRoute("/graphql")).isTrue();

            JsonNode created = graphQl(engine, "/graphql", "mutation { createSession { sessionId success } }");
            assertThat(created.at("/data/createSession/success").asBoolean())
                    .as(created.toString())
                    .isTrue();
            assertThat(created.at("/data/createSession/sessionId").asText()).startsWith("ses_");
        });
    }

    @Test
    void defaultPropertiesMapOntoTheModulesDefaults() {
        assertThat(OpenAiProxyGraphQlAutoConfiguration.options(new OpenAiProxyProperties().getGraphql()))
                .isEqualTo(GraphQlOptions.DEFAULTS);
    }

    @Test
    void mapsEveryProperty() {
        runner.withPropertyValues(
                        "openai.proxy.graphql.path=/api/graphql/",
                        "openai.proxy.graphql.max-depth=4",
                        "openai.proxy.graphql.max-complexity=40",
                        "openai.proxy.graphql.max-document-size=2000",
                        "openai.proxy.graphql.introspection=false",
                        "openai.proxy.graphql.max-upstream-calls=3",
                        "openai.proxy.graphql.max-response-size=2MB")
                .run(context -> {
                    GraphQlOptions options = context.getBean(GraphQlRoute.class).options();
                    assertThat(options)
                            .isEqualTo(
                                    new GraphQlOptions(true, "/api/graphql", 4, 40, 2000, false, 3, 2L * 1024 * 1024));
                    ProxyEngine engine = context.getBean(ProxyEngine.class);
                    assertThat(engine.hasRoute("/graphql")).isFalse();
                    JsonNode introspection = graphQl(engine, "/api/graphql", "{ __schema { queryType { name } } }");
                    assertThat(introspection.path("errors"))
                            .as(introspection.toString())
                            .isNotEmpty();
                    JsonNode deep = graphQl(
                            engine,
                            "/api/graphql",
                            "query { chatHistory(sessionId: \\\"x\\\") { id content isUser timestamp } }");
                    assertThat(deep.path("errors").toString()).doesNotContain("QUERY_TOO_COMPLEX");
                });
    }

    @Test
    void theEndpointIsBelowTheProxysPath() {
        runner.withPropertyValues("openai.proxy.path=/ai").run(context -> {
            ProxyEngine engine = context.getBean(ProxyEngine.class);
            assertThat(engine.config().path()).isEqualTo("/ai");
            // The engine's routes are relative to its mount path: the servlet at /ai/* serves /ai/graphql.
            assertThat(engine.hasRoute("/graphql")).isTrue();
        });
    }

    @Test
    void canBeDisabled() {
        runner.withPropertyValues("openai.proxy.graphql.enabled=false").run(context -> {
            assertThat(context).doesNotHaveBean(GraphQlRoute.class);
            assertThat(context.getBean(ProxyEngine.class).hasRoute("/graphql")).isFalse();
        });
    }

    @Test
    void isOffWithTheWholeStarter() {
        runner.withPropertyValues("openai.proxy.enabled=false")
                .run(context -> assertThat(context).doesNotHaveBean(GraphQlRoute.class));
    }

    @Test
    void backsOffForTwoProxiesOfTheApplication() {
        // Two configurations and two engines: the application mounts its own proxies and routes.
        ProxyConfig a = ProxyConfig.builder().path("/a").build();
        ProxyConfig b = ProxyConfig.builder().path("/b").build();
        runner.withBean("configA", ProxyConfig.class, () -> a)
                .withBean("configB", ProxyConfig.class, () -> b)
                .withBean("engineA", ProxyEngine.class, () -> ProxyEngine.create(a))
                .withBean("engineB", ProxyEngine.class, () -> ProxyEngine.create(b))
                .run(context -> assertThat(context).hasNotFailed().doesNotHaveBean(GraphQlRoute.class));
    }

    @Test
    void backsOffWithoutTheModule() {
        runner.withClassLoader(new FilteredClassLoader(GraphQlRoute.class)).run(context -> {
            assertThat(context).hasNotFailed().doesNotHaveBean(GraphQlRoute.class);
            assertThat(context.getBean(ProxyEngine.class).hasRoute("/graphql")).isFalse();
        });
    }

    @Test
    void theApplicationsOwnEndpointWins() {
        runner.withBean(
                        GraphQlRoute.class,
                        () -> GraphQlRoute.create(
                                ProxyConfig.defaults(), new GraphQlOptions(true, "/my-graphql", 10, 100, 1000, true)))
                .run(context -> {
                    assertThat(context).hasSingleBean(GraphQlRoute.class);
                    ProxyEngine engine = context.getBean(ProxyEngine.class);
                    assertThat(engine.hasRoute("/my-graphql")).isTrue();
                    assertThat(engine.hasRoute("/graphql")).isFalse();
                    assertThat(context.getBeansOfType(CustomRoute.class)).hasSize(1);
                });
    }

    @ParameterizedTest
    @CsvSource(
            delimiter = '|',
            value = {
                "openai.proxy.graphql.path=graphql             | openai.proxy.graphql.path",
                "openai.proxy.graphql.path=/                   | openai.proxy.graphql.path",
                "openai.proxy.graphql.path=/v1/models          | openai.proxy.graphql.path",
                "openai.proxy.graphql.path=/images/generations | openai.proxy.graphql.path",
                "openai.proxy.graphql.max-depth=0              | openai.proxy.graphql.max-depth",
                "openai.proxy.graphql.max-complexity=-1        | openai.proxy.graphql.max-complexity",
                "openai.proxy.graphql.max-document-size=0      | openai.proxy.graphql.max-document-size",
                "openai.proxy.graphql.max-document-size=lots   | openai.proxy.graphql.max-document-size",
                "openai.proxy.graphql.introspection=perhaps    | openai.proxy.graphql.introspection",
                "openai.proxy.graphql.max-upstream-calls=0     | openai.proxy.graphql.max-upstream-calls",
                "openai.proxy.graphql.max-response-size=0      | openai.proxy.graphql.max-response-size",
            })
    void badSettingsFailStartUpNamingTheProperty(String setting, String property) {
        runner.withPropertyValues(setting).run(context -> {
            assertThat(context).hasFailed();
            assertThat(StartupFailures.messages(context.getStartupFailure())).contains("'" + property + "'");
        });
    }

    @Test
    void aPathTakenBySessionsFailsStartUpNamingTheProperty() {
        runner.withPropertyValues("openai.proxy.graphql.path=/sessions").run(context -> {
            assertThat(context).hasFailed();
            assertThat(context.getStartupFailure()).hasMessageContaining("openai.proxy.graphql.path");
        });
    }

    static JsonNode graphQl(ProxyEngine engine, String path, String query) throws Exception {
        String body = "{\"query\":\"" + query + "\"}";
        return JSON.readTree(TestBodies.text(
                engine,
                ProxyRequest.builder("POST", path)
                        .header("Content-Type", "application/json")
                        .body(body.getBytes(StandardCharsets.UTF_8))
                        .build()));
    }
}
