package io.github.openaiproxy.spring;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.RequestStep;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.keys.ApiKey;
import io.github.openaiproxy.core.observe.ProxyObserver;
import io.github.openaiproxy.core.route.CustomRoute;
import io.github.openaiproxy.core.route.PassThroughRoute;
import io.github.openaiproxy.core.route.RouteCall;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import java.math.BigDecimal;
import java.net.URI;
import java.net.http.HttpHeaders;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.context.properties.source.InvalidConfigurationPropertyValueException;
import org.springframework.boot.test.context.FilteredClassLoader;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.annotation.Order;

class OpenAiProxyAutoConfigurationTests {
    private final ApplicationContextRunner runner =
            new ApplicationContextRunner().withConfiguration(AutoConfigurations.of(OpenAiProxyAutoConfiguration.class));

    @Test
    void providesConfigAndEngineWithCoresDefaults() {
        runner.run(context -> {
            assertThat(context).hasSingleBean(ProxyConfig.class).hasSingleBean(ProxyEngine.class);
            ProxyConfig config = context.getBean(ProxyConfig.class);
            ProxyConfig defaults = ProxyConfig.defaults();
            assertThat(config.upstream()).isEqualTo(defaults.upstream());
            assertThat(config.cors()).isEqualTo(defaults.cors());
            assertThat(config.keys()).isEqualTo(defaults.keys());
            assertThat(config.path()).isEqualTo("/");
            assertThat(context.getBean(ProxyEngine.class).config()).isSameAs(config);
        });
    }

    @Test
    void mapsPoliciesFromPropertiesAndNamesARefusedOne() {
        runner.withPropertyValues(
                        "openai.proxy.access.role-policies=member=free-tier,staff=staff",
                        "openai.proxy.policies.free-tier.models=gpt-4o-mini,gpt-3.5*",
                        "openai.proxy.policies.free-tier.max-tokens=100",
                        "openai.proxy.policies.free-tier.over-cap=refuse",
                        "openai.proxy.policies.free-tier.tokens-per-month=6000000000",
                        "openai.proxy.policies.anonymous.routes=chat")
                .run(context -> {
                    ProxyConfig config = context.getBean(ProxyConfig.class);
                    io.github.openaiproxy.core.access.Policy free =
                            config.access().policies().get("free-tier");
                    assertThat(free.models()).containsExactly("gpt-4o-mini", "gpt-3.5*");
                    assertThat(free.maxTokens()).isEqualTo(100);
                    assertThat(free.overCap()).isEqualTo(io.github.openaiproxy.core.access.Policy.OverCap.REFUSE);
                    assertThat(free.quotas().tokensPerMonth()).isEqualTo(6_000_000_000L);
                    assertThat(config.access().policies().get("anonymous").routes())
                            .containsExactly("chat");
                    assertThat(config.access().rolePolicies())
                            .containsExactly(
                                    java.util.Map.entry("member", "free-tier"), java.util.Map.entry("staff", "staff"));
                });
        runner.withPropertyValues("openai.proxy.policies.free.max-n=0")
                .run(context -> assertThat(context.getStartupFailure())
                        .hasRootCauseInstanceOf(InvalidConfigurationPropertyValueException.class)
                        .rootCause()
                        .hasMessageContaining("openai.proxy.policies.free.max-n")
                        .hasMessageContaining("'0'")
                        .hasMessageContaining("must be at least 1"));
    }

    @Test
    void mapsKeysAndUpstream() {
        runner.withPropertyValues(
                        "openai.proxy.api-key=sk-test-1",
                        "openai.proxy.allow-client-key=true",
                        "openai.proxy.base-url=http://127.0.0.1:9999/v1",
                        "openai.proxy.organization=org-1",
                        "openai.proxy.project=proj-1",
                        "openai.proxy.connect-timeout=3s",
                        "openai.proxy.response-timeout=2m",
                        "openai.proxy.upstream-client=jdk")
                .run(context -> {
                    ProxyConfig config = context.getBean(ProxyConfig.class);
                    assertThat(config.keys().serverKey()).isEqualTo(ApiKey.of("sk-test-1"));
                    assertThat(config.keys().allowClientKey()).isTrue();
                    assertThat(config.upstream().baseUrl()).isEqualTo(URI.create("http://127.0.0.1:9999/v1"));
                    assertThat(config.upstream().organization()).contains("org-1");
                    assertThat(config.upstream().project()).contains("proj-1");
                    assertThat(config.upstream().connectTimeout()).isEqualTo(Duration.ofSeconds(3));
                    assertThat(config.upstream().responseTimeout()).isEqualTo(Duration.ofMinutes(2));
                    assertThat(config.upstream().client()).isEqualTo(UpstreamConfig.ClientKind.JDK);
                });
    }

    @Test
    void durationsWithoutAUnitAreSecondsAsInTheOtherConfigurationSources() {
        runner.withPropertyValues("openai.proxy.connect-timeout=7", "openai.proxy.cors.max-age=600")
                .run(context -> {
                    ProxyConfig config = context.getBean(ProxyConfig.class);
                    assertThat(config.upstream().connectTimeout()).isEqualTo(Duration.ofSeconds(7));
                    assertThat(config.cors().maxAge()).isEqualTo(Duration.ofSeconds(600));
                });
    }

    @Test
    void mapsCors() {
        runner.withPropertyValues(
                        "openai.proxy.cors.allowed-origins=https://chat.example.com, http://localhost:*",
                        "openai.proxy.cors.allowed-origin-patterns=https://*.example.org",
                        "openai.proxy.cors.allowed-headers=content-type,x-custom-*",
                        "openai.proxy.cors.exposed-headers=x-request-id",
                        "openai.proxy.cors.max-age=10m",
                        "openai.proxy.cors.allow-credentials=true")
                .run(context -> {
                    ProxyConfig config = context.getBean(ProxyConfig.class);
                    assertThat(config.cors().allowedOrigins()).containsExactly("https://chat.example.com");
                    assertThat(config.cors().allowedOriginPatterns())
                            .containsExactly("http://localhost:*", "https://*.example.org");
                    assertThat(config.cors().allowedHeaders()).containsExactly("content-type", "x-custom-*");
                    assertThat(config.cors().exposedHeaders()).containsExactly("x-request-id");
                    assertThat(config.cors().maxAge()).isEqualTo(Duration.ofMinutes(10));
                    assertThat(config.cors().allowCredentials()).isTrue();
                });
    }

    @Test
    void mapsChatAndImageDefaults() {
        runner.withPropertyValues(
                        "openai.proxy.chat.model=gpt-4o-mini",
                        "openai.proxy.chat.temperature=0.2",
                        "openai.proxy.chat.max-tokens=256",
                        "openai.proxy.chat.stream=true",
                        "openai.proxy.image.model=gpt-image-1",
                        "openai.proxy.image.n=2",
                        "openai.proxy.image.size=1536x1024",
                        "openai.proxy.image.quality=high",
                        "openai.proxy.image.style=natural",
                        "openai.proxy.image.response-format=b64_json")
                .run(context -> {
                    ProxyConfig config = context.getBean(ProxyConfig.class);
                    assertThat(config.chatDefaults().model()).isEqualTo("gpt-4o-mini");
                    assertThat(config.chatDefaults().temperature()).isEqualTo(new BigDecimal("0.2"));
                    assertThat(config.chatDefaults().maxTokens()).isEqualTo(256);
                    assertThat(config.chatDefaults().stream()).isTrue();
                    assertThat(config.imageDefaults().model()).isEqualTo("gpt-image-1");
                    assertThat(config.imageDefaults().n()).isEqualTo(2);
                    assertThat(config.imageDefaults().size()).isEqualTo("1536x1024");
                    assertThat(config.imageDefaults().quality()).isEqualTo("high");
                    assertThat(config.imageDefaults().style()).isEqualTo("natural");
                    assertThat(config.imageDefaults().responseFormat()).isEqualTo("b64_json");
                });
    }

    @Test
    void mapsPathLimitsAndRoutes() {
        runner.withPropertyValues(
                        "openai.proxy.path=/ai/",
                        "openai.proxy.max-body-size=2MB",
                        "openai.proxy.max-upload-size=25MB",
                        "openai.proxy.max-event-size=512KB",
                        "openai.proxy.pass-through-routes=POST /v1/chat/completions, GET /v1/files/{id}",
                        "openai.proxy.allowed-hosts=chat.example.com, .Example.org")
                .run(context -> {
                    ProxyConfig config = context.getBean(ProxyConfig.class);
                    assertThat(config.path()).isEqualTo("/ai");
                    assertThat(config.allowedHosts().entries()).containsExactly("chat.example.com", ".example.org");
                    assertThat(config.maxBodySize()).isEqualTo(2L * 1024 * 1024);
                    assertThat(config.maxUploadSize()).isEqualTo(25L * 1024 * 1024);
                    assertThat(config.maxEventSize()).isEqualTo(512 * 1024);
                    assertThat(config.passThroughRoutes())
                            .containsExactly(
                                    new PassThroughRoute("POST", "/v1/chat/completions"),
                                    new PassThroughRoute("GET", "/v1/files/{id}"));
                });
    }

    @Test
    void mapsTheStreamIdleTimeoutAndTheConcurrencyCaps() {
        runner.withPropertyValues(
                        "openai.proxy.stream-idle-timeout=90",
                        "openai.proxy.limits.max-concurrent-upstream-calls=200",
                        "openai.proxy.limits.max-concurrent-upstream-calls-per-client=0")
                .run(context -> {
                    ProxyConfig config = context.getBean(ProxyConfig.class);
                    assertThat(config.upstream().streamIdleTimeout()).isEqualTo(java.time.Duration.ofSeconds(90));
                    assertThat(config.maxConcurrentUpstreamCalls()).isEqualTo(200);
                    assertThat(config.maxConcurrentUpstreamCallsPerClient()).isZero();
                });
    }

    @ParameterizedTest
    @CsvSource(
            delimiter = '|',
            value = {
                "openai.proxy.cors.allowed-origins=*                 | openai.proxy.cors.allow-credentials=true | openai.proxy.cors.allow-credentials",
                "openai.proxy.base-url=ftp://example.com             | openai.proxy.api-key=sk-secret-9         | openai.proxy.base-url",
                "openai.proxy.base-url=http://exa mple.com           | openai.proxy.api-key=sk-secret-9         | openai.proxy.base-url",
                "openai.proxy.connect-timeout=-5s                    | openai.proxy.api-key=sk-secret-9         | openai.proxy.connect-timeout",
                "openai.proxy.response-timeout=0                     | openai.proxy.enabled=true                | openai.proxy.response-timeout",
                "openai.proxy.cors.max-age=-1s                       | openai.proxy.enabled=true                | openai.proxy.cors.max-age",
                "openai.proxy.cors.allowed-origin-patterns=localhost | openai.proxy.enabled=true                | openai.proxy.cors.allowed-origin-patterns",
                "openai.proxy.cors.allowed-origins=*.example.com     | openai.proxy.enabled=true                | openai.proxy.cors.allowed-origins",
                "openai.proxy.path=/ai/*                             | openai.proxy.enabled=true                | openai.proxy.path",
                "openai.proxy.allowed-hosts=localhost:8080           | openai.proxy.enabled=true                | openai.proxy.allowed-hosts",
                "openai.proxy.max-body-size=0                        | openai.proxy.enabled=true                | openai.proxy.max-body-size",
                "openai.proxy.max-upload-size=0                      | openai.proxy.enabled=true                | openai.proxy.max-upload-size",
                "openai.proxy.max-event-size=4GB                     | openai.proxy.enabled=true                | openai.proxy.max-event-size",
                "openai.proxy.pass-through-routes=FETCH /v1/models   | openai.proxy.enabled=true                | openai.proxy.pass-through-routes",
                "openai.proxy.chat.max-tokens=0                      | openai.proxy.enabled=true                | openai.proxy.chat.max-tokens",
                "openai.proxy.chat.model=                            | openai.proxy.enabled=true                | openai.proxy.chat.model",
                "openai.proxy.image.n=11                             | openai.proxy.enabled=true                | openai.proxy.image.n",
                "openai.proxy.stream-idle-timeout=0                  | openai.proxy.enabled=true                | openai.proxy.stream-idle-timeout",
                "openai.proxy.limits.max-concurrent-upstream-calls=-1 | openai.proxy.enabled=true               | openai.proxy.limits.max-concurrent-upstream-calls",
            })
    void failsOnAnInvalidValueNamingTheProperty(String setting, String other, String property) {
        runner.withPropertyValues(setting, other).run(context -> {
            assertThat(context).hasFailed();
            Throwable failure = context.getStartupFailure();
            Throwable root = failure;
            while (root.getCause() != null) {
                root = root.getCause();
            }
            assertThat(root).isInstanceOf(InvalidConfigurationPropertyValueException.class);
            assertThat(((InvalidConfigurationPropertyValueException) root).getName())
                    .isEqualTo(property);
            assertThat(failure).hasMessageContaining(property).hasMessageNotContaining("sk-secret-9");
        });
    }

    @Test
    void appliesCustomizersInOrderAfterTheProperties() {
        runner.withPropertyValues("openai.proxy.chat.model=from-properties")
                .withUserConfiguration(Customizers.class)
                .run(context -> {
                    ProxyConfig config = context.getBean(ProxyConfig.class);
                    // Order 1 saw the properties and ran first; order 2 ran last.
                    assertThat(config.chatDefaults().model()).isEqualTo("from-properties+first+second");
                });
    }

    @Test
    void backsOffWhenTheApplicationDefinesItsConfig() {
        runner.withBean(
                        ProxyConfig.class,
                        () -> ProxyConfig.builder().path("/mine").build())
                .withPropertyValues("openai.proxy.path=/ignored")
                .run(context -> {
                    assertThat(context).hasSingleBean(ProxyConfig.class);
                    assertThat(context.getBean(ProxyEngine.class).config().path())
                            .isEqualTo("/mine");
                });
    }

    @Test
    void backsOffWhenTheApplicationDefinesItsEngine() {
        ProxyEngine mine = ProxyEngine.create(ProxyConfig.defaults());
        try {
            runner.withBean(ProxyEngine.class, () -> mine)
                    .run(context ->
                            assertThat(context.getBean(ProxyEngine.class)).isSameAs(mine));
        } finally {
            mine.close();
        }
    }

    @Test
    void engineTakesObserverAndRouteBeansThenEngineCustomizers() {
        runner.withUserConfiguration(EngineExtras.class).run(context -> {
            ProxyEngine engine = context.getBean(ProxyEngine.class);
            assertThat(TestBodies.text(
                            engine, ProxyRequest.builder("GET", "/hello").build()))
                    .isEqualTo("hi");
            assertThat(TestBodies.text(
                            engine, ProxyRequest.builder("GET", "/bye").build()))
                    .isEqualTo("bye");
            assertThat(context.getBean(EngineExtras.class).seen)
                    .containsExactly("first GET /hello", "second GET /hello", "first GET /bye", "second GET /bye");
        });
    }

    @Test
    void aCustomizerAddsRequestStepsAtTheirNamedPosition() {
        runner.withUserConfiguration(EngineExtras.class)
                .withBean(
                        "servedBy",
                        ProxyEngineCustomizer.class,
                        () -> b -> b.step(
                                RequestStep.Position.AFTER_RESPONSE_HEADERS,
                                (ctx, next) -> next.proceed(ctx).thenApply(r -> r.withHeader("X-Served-By", "proxy"))))
                .run(context -> {
                    ProxyEngine engine = context.getBean(ProxyEngine.class);
                    ProxyResponse hello = engine.handle(
                                    ProxyRequest.builder("GET", "/hello").build())
                            .get(10, java.util.concurrent.TimeUnit.SECONDS);
                    ProxyResponse missing = engine.handle(
                                    ProxyRequest.builder("GET", "/nowhere").build())
                            .get(10, java.util.concurrent.TimeUnit.SECONDS);
                    assertThat(hello.headers().firstValue("X-Served-By")).contains("proxy");
                    assertThat(missing.status()).isEqualTo(404);
                    assertThat(missing.headers().firstValue("X-Served-By")).contains("proxy");
                });
    }

    @Test
    void aFailingObserverBreaksNeitherTheRequestNorTheOtherObservers() {
        runner.withUserConfiguration(EngineExtras.class)
                .withBean("failing", ProxyObserver.class, () -> (method, path) -> {
                    throw new IllegalStateException("observer bug");
                })
                .run(context -> {
                    ProxyEngine engine = context.getBean(ProxyEngine.class);
                    assertThat(TestBodies.text(
                                    engine,
                                    ProxyRequest.builder("GET", "/hello").build()))
                            .isEqualTo("hi");
                    assertThat(context.getBean(EngineExtras.class).seen)
                            .containsExactly("first GET /hello", "second GET /hello");
                });
    }

    @Test
    void canBeDisabled() {
        runner.withPropertyValues("openai.proxy.enabled=false")
                .run(context -> assertThat(context)
                        .doesNotHaveBean(ProxyConfig.class)
                        .doesNotHaveBean(ProxyEngine.class)
                        .doesNotHaveBean(OpenAiProxyProperties.class));
    }

    @Test
    void backsOffWithoutCore() {
        runner.withClassLoader(new FilteredClassLoader(ProxyEngine.class))
                .run(context -> assertThat(context).doesNotHaveBean(ProxyConfig.class));
    }

    @Configuration(proxyBeanMethods = false)
    static class Customizers {
        @Bean
        @Order(2)
        ProxyConfigCustomizer second() {
            return b -> b.chatDefaults(
                    b.build().chatDefaults().withModel(b.build().chatDefaults().model() + "+second"));
        }

        @Bean
        @Order(1)
        ProxyConfigCustomizer first() {
            return b -> b.chatDefaults(
                    b.build().chatDefaults().withModel(b.build().chatDefaults().model() + "+first"));
        }
    }

    @Configuration(proxyBeanMethods = false)
    static class EngineExtras {
        final List<String> seen = new CopyOnWriteArrayList<>();

        @Bean
        @Order(2)
        ProxyObserver secondObserver() {
            return (method, path) -> {
                seen.add("second " + method + " " + path);
                return ProxyObserver.Observation.NONE;
            };
        }

        @Bean
        @Order(1)
        ProxyObserver firstObserver() {
            return (method, path) -> {
                seen.add("first " + method + " " + path);
                return ProxyObserver.Observation.NONE;
            };
        }

        @Bean
        CustomRoute hello() {
            return textRoute("/hello", "hi");
        }

        @Bean
        ProxyEngineCustomizer byeRoute() {
            return builder -> builder.route(textRoute("/bye", "bye"));
        }
    }

    static CustomRoute textRoute(String path, String text) {
        return new CustomRoute() {
            @Override
            public String path() {
                return path;
            }

            @Override
            public Set<String> methods() {
                return Set.of("GET");
            }

            @Override
            public CompletableFuture<ProxyResponse> handle(RouteCall call) {
                return CompletableFuture.completedFuture(ProxyResponse.of(
                        200,
                        HttpHeaders.of(Map.of("Content-Type", List.of("text/plain")), (a, b) -> true),
                        text.getBytes(StandardCharsets.UTF_8)));
            }
        };
    }
}
