package io.github.openaiproxy.spring;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.access.AccessConfig;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.cors.CorsConfig;
import io.github.openaiproxy.core.normalize.ChatDefaults;
import io.github.openaiproxy.core.normalize.ImageDefaults;
import io.github.openaiproxy.core.normalize.ImageModel;
import io.github.openaiproxy.core.route.PassThroughRoute;
import io.github.openaiproxy.core.session.SessionConfig;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.graphql.GraphQlOptions;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** The properties repeat core's defaults for IDE help; these tests keep them equal and documented. */
class OpenAiProxyPropertiesTests {
    private final OpenAiProxyProperties properties = new OpenAiProxyProperties();

    @Test
    void defaultValuesAreCoresDefaults() {
        assertThat(properties.getApiKey()).isNull();
        assertThat(properties.isAllowClientKey()).isFalse();
        assertThat(properties.getPath()).isEqualTo(ProxyConfig.DEFAULT_PATH);
        assertThat(properties.getBaseUrl()).isEqualTo(UpstreamConfig.DEFAULT_BASE_URL.toString());
        assertThat(properties.getConnectTimeout()).isEqualTo(UpstreamConfig.DEFAULT_CONNECT_TIMEOUT);
        assertThat(properties.getResponseTimeout()).isEqualTo(UpstreamConfig.DEFAULT_RESPONSE_TIMEOUT);
        assertThat(properties.getUpstreamClient())
                .isEqualTo(UpstreamConfig.defaults().client());
        assertThat(properties.getOrganization()).isNull();
        assertThat(properties.getProject()).isNull();
        assertThat(properties.getMaxBodySize().toBytes()).isEqualTo(ProxyConfig.DEFAULT_MAX_BODY_SIZE);
        assertThat(properties.getMaxUploadSize().toBytes()).isEqualTo(ProxyConfig.DEFAULT_MAX_UPLOAD_SIZE);
        assertThat(properties.getMaxEventSize().toBytes()).isEqualTo(ProxyConfig.DEFAULT_MAX_EVENT_SIZE);
        assertThat(properties.getStreamIdleTimeout()).isEqualTo(UpstreamConfig.DEFAULT_STREAM_IDLE_TIMEOUT);
        assertThat(properties.getLimits().getMaxConcurrentUpstreamCalls())
                .isEqualTo(ProxyConfig.DEFAULT_MAX_CONCURRENT_UPSTREAM_CALLS);
        assertThat(properties.getLimits().getMaxConcurrentUpstreamCallsPerClient())
                .isEqualTo(ProxyConfig.DEFAULT_MAX_CONCURRENT_UPSTREAM_CALLS_PER_CLIENT);
        assertThat(properties.getPassThroughRoutes())
                .isEqualTo(PassThroughRoute.DEFAULTS.stream()
                        .map(PassThroughRoute::toString)
                        .toList());

        CorsConfig cors = CorsConfig.defaults();
        assertThat(properties.getCors().getAllowedOrigins()).isEqualTo(cors.allowedOrigins());
        assertThat(properties.getCors().getAllowedOriginPatterns()).isEqualTo(cors.allowedOriginPatterns());
        assertThat(properties.getCors().getAllowedHeaders()).isEqualTo(cors.allowedHeaders());
        assertThat(properties.getCors().getExposedHeaders()).isEqualTo(cors.exposedHeaders());
        assertThat(properties.getCors().getMaxAge()).isEqualTo(cors.maxAge());
        assertThat(properties.getCors().isAllowCredentials()).isEqualTo(cors.allowCredentials());

        ChatDefaults chat = ChatDefaults.DEFAULTS;
        assertThat(properties.getChat().getModel()).isEqualTo(chat.model());
        assertThat(properties.getChat().getTemperature()).isEqualTo(chat.temperature());
        assertThat(properties.getChat().getMaxTokens()).isEqualTo(chat.maxTokens());
        assertThat(properties.getChat().isStream()).isEqualTo(chat.stream());

        ImageDefaults image = ImageDefaults.DEFAULTS;
        assertThat(properties.getImage().getModel()).isEqualTo(image.model());
        assertThat(properties.getImage().getN()).isEqualTo(image.n());
        assertThat(properties.getImage().getSize()).isEqualTo(image.size());
        assertThat(properties.getImage().getQuality()).isEqualTo(image.quality());
        assertThat(properties.getImage().getStyle()).isEqualTo(image.style());
        assertThat(properties.getImage().getResponseFormat()).isEqualTo(image.responseFormat());

        SessionConfig sessions = SessionConfig.DEFAULTS;
        assertThat(properties.getSessions().isEnabled()).isEqualTo(sessions.enabled());
        assertThat(properties.getSessions().isHistoryAsContext()).isEqualTo(sessions.historyAsContext());
        assertThat(properties.getSessions().getContextMessages()).isEqualTo(sessions.contextMessages());

        AccessConfig access = AccessConfig.DEFAULTS;
        assertThat(properties.getAccess().getAnonymous()).isEqualTo(access.anonymous());
        assertThat(properties.getAccess().getTrustedProxies()).isEqualTo(access.trustedProxies());
        assertThat(properties.getAccess().getForwardedHeader()).isEqualTo(access.forwardedHeader());
        assertThat(properties.getAccess().getJwt().getIssuer()).isNull();
        assertThat(properties.getAccess().getJwt().getAudience()).isNull();
        assertThat(properties.getAccess().getJwt().getJwksUrl()).isNull();

        GraphQlOptions graphql = GraphQlOptions.DEFAULTS;
        assertThat(properties.getGraphql().isEnabled()).isEqualTo(graphql.enabled());
        assertThat(properties.getGraphql().getPath()).isEqualTo(graphql.path());
        assertThat(properties.getGraphql().getMaxDepth()).isEqualTo(graphql.maxDepth());
        assertThat(properties.getGraphql().getMaxComplexity()).isEqualTo(graphql.maxComplexity());
        assertThat(properties.getGraphql().getMaxDocumentSize()).isEqualTo(graphql.maxDocumentSize());
        assertThat(properties.getGraphql().isIntrospection()).isEqualTo(graphql.introspection());
        assertThat(properties.getGraphql().getMaxUpstreamCalls()).isEqualTo(graphql.maxUpstreamCalls());
        assertThat(properties.getGraphql().getMaxResponseSize())
                .as("the proxy's max-body-size")
                .isNull();
    }

    @Test
    void defaultPropertiesMapOntoCoresDefaultConfig() {
        ProxyConfig mapped = OpenAiProxyPropertiesAdapter.toBuilder(properties).build();
        ProxyConfig core = ProxyConfig.defaults();
        assertThat(mapped.path()).isEqualTo(core.path());
        assertThat(mapped.upstream()).isEqualTo(core.upstream());
        assertThat(mapped.keys()).isEqualTo(core.keys());
        assertThat(mapped.cors()).isEqualTo(core.cors());
        assertThat(mapped.chatDefaults()).isEqualTo(core.chatDefaults());
        assertThat(mapped.imageDefaults()).isEqualTo(core.imageDefaults());
        assertThat(mapped.maxBodySize()).isEqualTo(core.maxBodySize());
        assertThat(mapped.maxUploadSize()).isEqualTo(core.maxUploadSize());
        assertThat(mapped.maxEventSize()).isEqualTo(core.maxEventSize());
        assertThat(mapped.requestBodyTimeout()).isEqualTo(core.requestBodyTimeout());
        assertThat(mapped.maxConcurrentUpstreamCalls()).isEqualTo(core.maxConcurrentUpstreamCalls());
        assertThat(mapped.maxConcurrentUpstreamCallsPerClient()).isEqualTo(core.maxConcurrentUpstreamCallsPerClient());
        assertThat(mapped.passThroughRoutes()).isEqualTo(core.passThroughRoutes());
        assertThat(mapped.sessions()).isEqualTo(core.sessions());
        assertThat(mapped.access()).isEqualTo(core.access());
        assertThat(mapped.allowedHosts().entries())
                .isEqualTo(core.allowedHosts().entries());
        assertThat(mapped.access().admin()).isEqualTo(core.access().admin());
        assertThat(mapped.access().declaredKeys()).isEqualTo(core.access().declaredKeys());
    }

    @Test
    void theAdminApiAndDeclaredKeysMapOntoCore() {
        String hash = io.github.openaiproxy.core.access.ProxyKeys.hash("admin-token");
        properties.getAdmin().setEnabled(true);
        properties.getAdmin().setPath("/ops");
        properties.getAdmin().setTokens(List.of(hash.toUpperCase(Locale.ROOT)));
        properties.getAdmin().setRole("PROXY_ADMIN");
        properties.getAccess().setKeys(List.of(hash + ":keys:ci"));
        ProxyConfig mapped = OpenAiProxyPropertiesAdapter.toBuilder(properties).build();
        assertThat(mapped.access().admin())
                .isEqualTo(new io.github.openaiproxy.core.access.AccessConfig.Admin(
                        true, "/ops", List.of(hash), "PROXY_ADMIN"));
        assertThat(mapped.access().declaredKeys()).singleElement().satisfies(k -> {
            assertThat(k.id()).isEqualTo("config-ci");
            assertThat(k.hash()).isEqualTo(hash);
            assertThat(k.policy()).isEqualTo("keys");
        });

        properties.getAdmin().setTokens(List.of("admin-token")); // a token where its hash belongs
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> OpenAiProxyPropertiesAdapter.toBuilder(properties))
                .isInstanceOfSatisfying(
                        org.springframework.boot.context.properties.source.InvalidConfigurationPropertyValueException
                                .class,
                        e -> assertThat(e.getName()).isEqualTo("openai.proxy.admin.tokens"))
                .hasMessageNotContaining("admin-token");
    }

    @Test
    void metadataDocumentsTheKeysOfTheOtherConfigurationSourcesWithDefaults() throws Exception {
        Map<String, JsonNode> metadata = metadata();
        List<String> keys = new ArrayList<>();
        metadata.forEach((name, property) -> {
            assertThat(property.path("description").asText()).as(name).isNotBlank();
            if (property.path("type").asText().equals("java.lang.Boolean")) {
                assertThat(property.path("description").asText()).as(name).startsWith("Whether");
            }
            if (name.startsWith("openai.proxy.")) {
                keys.add(name.substring("openai.proxy.".length()));
            }
        });
        // One vocabulary: the Spring properties are the init-parameter / environment keys (core's and the GraphQL
        // module's) plus Spring's own; the store's keys have the same names in the standalone server's environment.
        List<String> springOnly =
                List.of("enabled", "metrics.max-model-tags", "health.cache-time-to-live", "health.timeout");
        assertThat(keys).containsAll(springOnly);
        keys.removeAll(springOnly);
        List<String> graphql = Arrays.stream(GraphQlOptions.class.getRecordComponents())
                .map(c -> "graphql." + c.getName().replaceAll("([A-Z])", "-$1").toLowerCase(Locale.ROOT))
                .toList();
        assertThat(graphql).contains("graphql.max-document-size");
        List<String> expected = new ArrayList<>(OpenAiProxySettingsTests.asProperties(ProxySettings.KEYS));
        expected.addAll(graphql);
        assertThat(keys).containsExactlyInAnyOrderElementsOf(expected);
        assertThat(metadata.get("openai.proxy.sessions.max-session-size")
                        .path("defaultValue")
                        .asText())
                .isEqualTo("16MB");
        assertThat(metadata.get("openai.proxy.sessions.store")
                        .path("defaultValue")
                        .asText())
                .isEqualTo("auto");
        assertThat(metadata.get("openai.proxy.graphql.path")
                        .path("defaultValue")
                        .asText())
                .isEqualTo(GraphQlOptions.DEFAULTS.path());

        assertThat(metadata.get("openai.proxy.connect-timeout")
                        .path("defaultValue")
                        .asText())
                .isEqualTo("10s");
        assertThat(metadata.get("openai.proxy.max-body-size")
                        .path("defaultValue")
                        .asText())
                .isEqualTo("10MB");
        assertThat(metadata.get("openai.proxy.max-upload-size")
                        .path("defaultValue")
                        .asText())
                .isEqualTo("512MB");
        assertThat(metadata.get("openai.proxy.chat.temperature")
                        .path("defaultValue")
                        .decimalValue())
                .isEqualByComparingTo(ChatDefaults.DEFAULTS.temperature());
        assertThat(texts(metadata.get("openai.proxy.cors.allowed-headers").path("defaultValue")))
                .isEqualTo(CorsConfig.DEFAULT_ALLOWED_HEADERS);
        assertThat(texts(metadata.get("openai.proxy.cors.exposed-headers").path("defaultValue")))
                .isEqualTo(CorsConfig.DEFAULT_EXPOSED_HEADERS);
        assertThat(texts(metadata.get("openai.proxy.pass-through-routes").path("defaultValue")))
                .isEqualTo(properties.getPassThroughRoutes());
    }

    @Test
    void accessPropertiesMapOntoCoresAccessConfig() {
        properties.getAccess().setAnonymous(AccessConfig.Anonymous.DENY);
        properties.getAccess().setTrustedProxies(List.of("10.0.0.0/8", "::1"));
        properties.getAccess().getJwt().setIssuer("https://login.example.com");
        properties.getAccess().getJwt().setAudience("chat");
        properties.getAccess().getJwt().setJwksUrl("https://login.example.com/jwks.json");

        AccessConfig mapped =
                OpenAiProxyPropertiesAdapter.toBuilder(properties).build().access();

        assertThat(mapped.anonymous()).isEqualTo(AccessConfig.Anonymous.DENY);
        assertThat(mapped.trustedProxies()).containsExactly("10.0.0.0/8", "::1");
        assertThat(mapped.forwardedHeader()).isEqualTo(AccessConfig.ForwardedHeader.X_FORWARDED_FOR);
        properties.getAccess().setForwardedHeader(AccessConfig.ForwardedHeader.FORWARDED);
        assertThat(OpenAiProxyPropertiesAdapter.toBuilder(properties)
                        .build()
                        .access()
                        .forwardedHeader())
                .isEqualTo(AccessConfig.ForwardedHeader.FORWARDED);
        assertThat(mapped.jwt())
                .isEqualTo(new AccessConfig.Jwt(
                        "https://login.example.com", "chat", "https://login.example.com/jwks.json"));
    }

    @Test
    void toStringNeverShowsTheKey() {
        properties.setApiKey("sk-secret-123");
        assertThat(properties.toString()).doesNotContain("sk-secret-123").contains("configured");
    }

    @Test
    void metadataHintsTheImageDefaultsTheKnownModelsAccept() throws Exception {
        Map<String, List<String>> hints = hints();
        List<ImageModel> models = Stream.of("dall-e-2", "dall-e-3", "gpt-image-1")
                .map(m -> ImageModel.forName(m).orElseThrow())
                .toList();
        assertThat(hints.get("openai.proxy.image.style"))
                .containsExactlyInAnyOrderElementsOf(union(models, ImageModel::styles));
        assertThat(hints.get("openai.proxy.image.quality"))
                .containsExactlyInAnyOrderElementsOf(union(models, ImageModel::qualities));
        assertThat(hints.get("openai.proxy.image.size"))
                .containsExactlyInAnyOrderElementsOf(union(models, ImageModel::sizes));
        assertThat(hints.get("openai.proxy.image.model")).containsAll(List.of("dall-e-2", "dall-e-3", "gpt-image-1"));
    }

    private static Set<String> union(List<ImageModel> models, Function<ImageModel, Set<String>> values) {
        Set<String> all = new TreeSet<>();
        models.forEach(m -> all.addAll(values.apply(m)));
        return all;
    }

    /** The generated metadata's hints: each property's hinted values. */
    private static Map<String, List<String>> hints() throws Exception {
        try (InputStream in =
                OpenAiProxyPropertiesTests.class.getResourceAsStream("/META-INF/spring-configuration-metadata.json")) {
            Map<String, List<String>> byName = new TreeMap<>();
            for (JsonNode h : new ObjectMapper().readTree(in).path("hints")) {
                List<String> values = new ArrayList<>();
                h.path("values").forEach(v -> values.add(v.path("value").asText()));
                byName.put(h.path("name").asText(), values);
            }
            return byName;
        }
    }

    private static Map<String, JsonNode> metadata() throws Exception {
        try (InputStream in =
                OpenAiProxyPropertiesTests.class.getResourceAsStream("/META-INF/spring-configuration-metadata.json")) {
            assertThat(in).as("generated configuration metadata").isNotNull();
            Map<String, JsonNode> byName = new TreeMap<>();
            for (JsonNode p : new ObjectMapper().readTree(in).path("properties")) {
                byName.put(p.path("name").asText(), p);
            }
            return byName;
        }
    }

    private static List<String> texts(JsonNode array) {
        List<String> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asText()));
        return out;
    }
}
