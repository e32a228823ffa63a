package io.github.openaiproxy.spring;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.config.Setting;
import io.github.openaiproxy.core.config.SettingsBinder;
import io.github.openaiproxy.core.config.SettingsCatalog;
import io.github.openaiproxy.graphql.GraphQlOptions;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.springframework.beans.BeanWrapper;
import org.springframework.beans.PropertyAccessorFactory;
import org.springframework.boot.context.properties.source.InvalidConfigurationPropertyValueException;

/**
 * One vocabulary: the Spring properties are exactly the catalogs' settings (core's, the GraphQL module's and
 * the starter's own), with the same defaults, in the generated metadata and in the bound object alike.
 */
class OpenAiProxySettingsTests {
    private static final SettingsCatalog ALL =
            SettingsCatalog.concat(ProxySettings.CATALOG, GraphQlOptions.SETTINGS, OpenAiProxySettings.SPRING_ONLY);

    @Test
    void everyPropertyIsASettingAndEverySettingAProperty() throws Exception {
        List<String> properties = new ArrayList<>();
        metadata().keySet().stream()
                .filter(n -> n.startsWith(OpenAiProxySettings.PREFIX))
                .forEach(n -> properties.add(n.substring(OpenAiProxySettings.PREFIX.length())));
        assertThat(properties).containsExactlyInAnyOrderElementsOf(asProperties(ALL.keys()));
    }

    /**
     * The keys as Spring documents them: a templated family ({@code policies.<name>.max-tokens}, ...) is one map
     * property ({@code policies}) whose values have a bean property per member.
     */
    static List<String> asProperties(List<String> keys) {
        List<String> out = new ArrayList<>();
        Map<String, BeanWrapper> families = Map.of(
                "policies",
                PropertyAccessorFactory.forBeanPropertyAccess(new OpenAiProxyProperties.PolicyProperties()),
                "upstreams",
                PropertyAccessorFactory.forBeanPropertyAccess(new OpenAiProxyProperties.UpstreamProperties()));
        for (String key : keys) {
            int at = key.indexOf(Setting.NAME);
            if (at < 0) {
                out.add(key);
                continue;
            }
            String rule = key.substring(at + Setting.NAME.length() + 1);
            String family = key.substring(0, at - 1);
            assertThat(families).as("a Spring map property for %s", key).containsKey(family);
            assertThat(families.get(family).isWritableProperty(OpenAiProxySettings.propertyPath(rule)))
                    .as("a Spring property for %s", key)
                    .isTrue();
            if (!out.contains(family)) {
                out.add(family);
            }
        }
        return out;
    }

    @Test
    void policiesBindFromSpringPropertiesAndRefusalsNameTheProperty() {
        OpenAiProxyProperties p = new OpenAiProxyProperties();
        OpenAiProxyProperties.PolicyProperties free = new OpenAiProxyProperties.PolicyProperties();
        free.setModels(List.of("gpt-4o-mini", "gpt-3.5*"));
        free.setMaxTokens(100);
        free.setOverCap(io.github.openaiproxy.core.access.Policy.OverCap.REFUSE);
        free.setCostPerMonth(new java.math.BigDecimal("2.5"));
        p.getPolicies().put("free-tier", free);
        p.getAccess().setRolePolicies(List.of("member=free-tier"));
        io.github.openaiproxy.core.ProxyConfig config =
                OpenAiProxyPropertiesAdapter.toBuilder(p).build();
        io.github.openaiproxy.core.access.Policy bound =
                config.access().policies().get("free-tier");
        assertThat(bound.models()).containsExactly("gpt-4o-mini", "gpt-3.5*");
        assertThat(bound.maxTokens()).isEqualTo(100);
        assertThat(bound.overCap()).isEqualTo(io.github.openaiproxy.core.access.Policy.OverCap.REFUSE);
        assertThat(bound.quotas().costPerMonth()).isEqualByComparingTo("2.5");
        assertThat(config.access().rolePolicies()).containsExactly(Map.entry("member", "free-tier"));

        free.setMaxN(0);
        assertThatThrownBy(() -> OpenAiProxyPropertiesAdapter.toBuilder(p))
                .isInstanceOfSatisfying(InvalidConfigurationPropertyValueException.class, e -> {
                    assertThat(e.getName()).isEqualTo("openai.proxy.policies.free-tier.max-n");
                    assertThat(e.getValue()).isEqualTo("0");
                })
                .hasMessageContaining("must be at least 1");
    }

    @Test
    void pricesBindFromSpringPropertiesAndRefusalsNameTheProperty() {
        OpenAiProxyProperties p = new OpenAiProxyProperties();
        p.getLimits().setPrices(List.of("my-model=1/0.5/2"));
        p.getLimits().setImagePrices(List.of("dall-e-3/hd/1024x1024=0.5"));
        p.getLimits().setDefaultPrice("3/3/3");
        io.github.openaiproxy.core.usage.PriceTable prices = io.github.openaiproxy.core.usage.PriceTable.from(
                OpenAiProxyPropertiesAdapter.toBuilder(p).build().prices());
        assertThat(prices.find("my-model"))
                .hasValueSatisfying(m -> assertThat(m.output()).isEqualByComparingTo("2"));
        assertThat(prices.imagePrice("dall-e-3", "hd", "1024x1024"))
                .hasValueSatisfying(d -> assertThat(d).isEqualByComparingTo("0.5"));
        assertThat(prices.defaultPrice()).isPresent();

        p.getLimits().setPrices(List.of("my-model=1/2"));
        assertThatThrownBy(() -> OpenAiProxyPropertiesAdapter.toBuilder(p))
                .isInstanceOfSatisfying(
                        InvalidConfigurationPropertyValueException.class,
                        e -> assertThat(e.getName()).isEqualTo("openai.proxy.limits.prices"));
    }

    @Test
    void upstreamsBindFromSpringPropertiesAndRefusalsNameTheProperty() {
        OpenAiProxyProperties p = new OpenAiProxyProperties();
        OpenAiProxyProperties.UpstreamProperties azure = new OpenAiProxyProperties.UpstreamProperties();
        azure.setKind(io.github.openaiproxy.core.upstream.NamedUpstream.Kind.AZURE);
        azure.setBaseUrl("https://example.openai.azure.com");
        azure.setKeys(List.of("az-1", "az-2"));
        azure.setAliases(List.of("gpt-4o=prod-gpt4o"));
        azure.setApiVersion("2024-10-21");
        azure.setFallback(List.of("openai:gpt-4o-mini"));
        p.getUpstreams().put("azure", azure);
        io.github.openaiproxy.core.ProxyConfig config =
                OpenAiProxyPropertiesAdapter.toBuilder(p).build();
        io.github.openaiproxy.core.upstream.NamedUpstream bound =
                config.upstreams().get("azure").orElseThrow();
        assertThat(bound.kind()).isEqualTo(io.github.openaiproxy.core.upstream.NamedUpstream.Kind.AZURE);
        assertThat(bound.keys()).containsExactly("az-1", "az-2");
        assertThat(bound.upstreamModel("gpt-4o")).isEqualTo("prod-gpt4o");
        assertThat(config.upstreams().route("gpt-4o").map(u -> u.name())).contains("azure");

        azure.setFallback(List.of("nowhere"));
        assertThatThrownBy(() -> OpenAiProxyPropertiesAdapter.toBuilder(p))
                .isInstanceOfSatisfying(
                        InvalidConfigurationPropertyValueException.class,
                        e -> assertThat(e.getName()).isEqualTo("openai.proxy.upstreams.azure.fallback"))
                .hasMessageContaining("no upstream named 'nowhere'");
        azure.setFallback(null);
        azure.setKeys(List.of());
        assertThatThrownBy(() -> OpenAiProxyPropertiesAdapter.toBuilder(p))
                .isInstanceOfSatisfying(InvalidConfigurationPropertyValueException.class, e -> {
                    assertThat(e.getName()).isEqualTo("openai.proxy.upstreams.azure.keys");
                    assertThat(e.getValue()).isNull();
                });
    }

    @Test
    void theMetadataShowsTheCatalogsDefaults() throws Exception {
        Map<String, JsonNode> metadata = metadata();
        for (Setting s : ALL.settings()) {
            if (s.isTemplate()) {
                continue; // a map's values have no metadata of their own; the defaults are in the class
            }
            JsonNode d = metadata.get(OpenAiProxySettings.PREFIX + s.key()).path("defaultValue");
            String text = d.isMissingNode() || d.isNull() ? null : d.isArray() ? join(d) : d.asText();
            assertThat(value(s, text)).as(s.key()).isEqualTo(value(s, s.defaultValue()));
        }
    }

    @Test
    void theBoundPropertiesDefaultsAreTheCatalogs() {
        OpenAiProxyProperties properties = new OpenAiProxyProperties();
        properties.getPolicies().put("x", new OpenAiProxyProperties.PolicyProperties());
        properties.getUpstreams().put("x", new OpenAiProxyProperties.UpstreamProperties());
        SettingsBinder bound = OpenAiProxySettings.binder(properties, ALL);
        for (Setting s : ALL.settings()) {
            Object expected = value(s, s.defaultValue());
            if (s.isTemplate()) {
                // A policy's rules are unset until given (an unset list allows all), and named.
                assertThat((Object) bound.value(s.named("x").key())).as(s.key()).isEqualTo(expected);
                continue;
            }
            if (expected == null && (s.type() == Setting.Type.LIST || s.type() == Setting.Type.SECRET_LIST)) {
                expected = List.of(); // an empty list property is no list
            }
            assertThat((Object) bound.value(s.key())).as(s.key()).isEqualTo(expected);
        }
    }

    @Test
    void aRefusedApiKeyIsNamedButNeverShown() {
        OpenAiProxyProperties p = new OpenAiProxyProperties();
        p.setApiKey("sk-secret\u00a0pasted-4242");
        assertThatThrownBy(() -> OpenAiProxyPropertiesAdapter.toBuilder(p))
                .isInstanceOfSatisfying(InvalidConfigurationPropertyValueException.class, e -> {
                    assertThat(e.getName()).isEqualTo("openai.proxy.api-key");
                    assertThat(e.getValue()).isNull();
                })
                .hasMessageNotContaining("sk-secret")
                .hasMessageNotContaining("4242");
    }

    @Test
    void keysBecomeBeanPaths() {
        assertThat(OpenAiProxySettings.propertyPath("limits.max-concurrent-upstream-calls-per-client"))
                .isEqualTo("limits.maxConcurrentUpstreamCallsPerClient");
        assertThat(OpenAiProxySettings.propertyPath("image.n")).isEqualTo("image.n");
    }

    /** A default (metadata or catalog), as the binder reads it; null when none, empty lists as none. */
    private static Object value(Setting s, String text) {
        if (text == null) {
            return null;
        }
        Object v = SettingsBinder.of(SettingsCatalog.of(s), k -> text).value(s.key());
        return v instanceof List<?> l && l.isEmpty() ? null : v;
    }

    private static String join(JsonNode array) {
        List<String> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asText()));
        return String.join(",", out);
    }

    private static Map<String, JsonNode> metadata() throws Exception {
        try (InputStream in =
                OpenAiProxySettingsTests.class.getResourceAsStream("/META-INF/spring-configuration-metadata.json")) {
            assertThat(in).as("generated configuration metadata").isNotNull();
            Map<String, JsonNode> byName = new TreeMap<>();
            for (JsonNode p : new ObjectMapper().readTree(in).path("properties")) {
                byName.put(p.path("name").asText(), p);
            }
            return byName;
        }
    }
}
