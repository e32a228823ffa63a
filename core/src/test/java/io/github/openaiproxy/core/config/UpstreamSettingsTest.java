package io.github.openaiproxy.core.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.upstream.NamedUpstream;
import io.github.openaiproxy.core.upstream.Upstreams;
import java.net.URI;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * {@code upstreams.<name>.<setting>} from init parameters and the environment, and the configurations refused
 * at start-up with the setting named (and never a key's value).
 */
class UpstreamSettingsTest {
    private static Map<String, String> azureAndLocal() {
        Map<String, String> m = new HashMap<>();
        m.put("upstreams.azure-eu.kind", "azure");
        m.put("upstreams.azure-eu.base-url", "https://example-eu.openai.azure.com");
        m.put("upstreams.azure-eu.keys", "az-key-1, az-key-2");
        m.put("upstreams.azure-eu.models", "gpt-4o*");
        m.put("upstreams.azure-eu.aliases", "gpt-4o=prod-gpt4o, gpt-4o-mini=prod-mini");
        m.put("upstreams.azure-eu.api-version", "2024-10-21");
        m.put("upstreams.azure-eu.fallback", "local, openai:gpt-4o-mini");
        m.put("upstreams.local.kind", "compatible");
        m.put("upstreams.local.base-url", "http://127.0.0.1:11434/v1");
        m.put("upstreams.local.models", "llama3*, qwen2.5");
        return m;
    }

    @Test
    void everySettingBindsFromText() {
        ProxyConfig config = ProxySettings.from(azureAndLocal()).toConfig();

        NamedUpstream azure = config.upstreams().get("azure-eu").orElseThrow();
        assertThat(azure)
                .isEqualTo(new NamedUpstream(
                        "azure-eu",
                        NamedUpstream.Kind.AZURE,
                        URI.create("https://example-eu.openai.azure.com"),
                        List.of("az-key-1", "az-key-2"),
                        List.of("gpt-4o*"),
                        Map.of("gpt-4o", "prod-gpt4o", "gpt-4o-mini", "prod-mini"),
                        Optional.of("2024-10-21"),
                        List.of(
                                new NamedUpstream.Fallback("local", Optional.empty()),
                                new NamedUpstream.Fallback("openai", Optional.of("gpt-4o-mini")))));
        NamedUpstream local = config.upstreams().get("local").orElseThrow();
        assertThat(local.kind()).isEqualTo(NamedUpstream.Kind.COMPATIBLE);
        assertThat(local.keys()).isEmpty();
        assertThat(azure.toString()).doesNotContain("az-key");
    }

    @Test
    void theEnvironmentNamesEachSettingOfEachUpstream() {
        Map<String, String> env = Map.of(
                "OPENAI_API_KEY", "sk-default",
                "OPENAI_PROXY_UPSTREAMS_AZURE_EU_KIND", "azure",
                "OPENAI_PROXY_UPSTREAMS_AZURE_EU_BASE_URL", "https://example-eu.openai.azure.com",
                "OPENAI_PROXY_UPSTREAMS_AZURE_EU_KEYS", "k1,k2,k3",
                "OPENAI_PROXY_UPSTREAMS_AZURE_EU_API_VERSION", "2024-10-21",
                "OPENAI_PROXY_UPSTREAMS_AZURE_EU_ALIASES", "gpt-4o=prod-gpt4o",
                "OPENAI_PROXY_UPSTREAMS_AZURE_EU_FALLBACK", "openai");
        ProxyConfig config = ProxySettings.fromEnvironment(env).toConfig();

        NamedUpstream azure = config.upstreams().get("azure-eu").orElseThrow();
        assertThat(azure.keys()).hasSize(3);
        assertThat(azure.apiVersion()).contains("2024-10-21");
        assertThat(azure.upstreamModel("gpt-4o")).isEqualTo("prod-gpt4o");
        assertThat(azure.fallback())
                .extracting(NamedUpstream.Fallback::upstream)
                .containsExactly("openai");
        // OPENAI_API_KEY keeps configuring the default upstream, named openai.
        assertThat(config.keys().serverKey().orElseThrow().reveal()).isEqualTo("sk-default");
    }

    @Test
    void noUpstreamsLeavesTodaysSingleUpstream() {
        ProxyConfig config = ProxySettings.from(Map.of("api-key", "sk-x")).toConfig();
        assertThat(config.upstreams()).isSameAs(Upstreams.NONE);
        assertThat(config.upstreams().route("gpt-4o")).isEmpty();
    }

    @Test
    void routingTakesAnAliasFirstThenExactNamesThenGlobsThenTheDefault() {
        Map<String, String> m = azureAndLocal();
        // "gpt-4o-mini" is also an exact name of local, but azure-eu's alias wins.
        m.put("upstreams.local.models", "llama3*, qwen2.5, gpt-4o-mini, gpt-4o-audio");
        Upstreams u = ProxySettings.from(m).toConfig().upstreams();

        assertThat(u.route("gpt-4o-mini").map(NamedUpstream::name)).contains("azure-eu");
        assertThat(u.route("gpt-4o-audio").map(NamedUpstream::name)).contains("local"); // exact before azure's glob
        assertThat(u.route("gpt-4o-2024-08-06").map(NamedUpstream::name)).contains("azure-eu");
        assertThat(u.route("llama3.1-8b").map(NamedUpstream::name)).contains("local");
        assertThat(u.route("o3-mini")).isEmpty(); // the default upstream
        assertThat(u.listedModels()).containsExactly("gpt-4o", "gpt-4o-mini", "qwen2.5", "gpt-4o-audio");
    }

    @Test
    void anUnknownUpstreamInAFallbackChainIsRefusedNamingTheSetting() {
        Map<String, String> m = azureAndLocal();
        m.put("upstreams.local.fallback", "ollama");
        assertThatThrownBy(() -> ProxySettings.from(m).toConfig())
                .isInstanceOfSatisfying(
                        InvalidSettingException.class, e -> assertThat(e.key()).isEqualTo("upstreams.local.fallback"))
                .hasMessageContaining("no upstream named 'ollama'");
    }

    @Test
    void aCycleIsRefusedNamingTheSetting() {
        Map<String, String> m = azureAndLocal();
        m.put("upstreams.local.fallback", "azure-eu");
        assertThatThrownBy(() -> ProxySettings.from(m).toConfig())
                .isInstanceOfSatisfying(
                        InvalidSettingException.class,
                        e -> assertThat(e.key()).isEqualTo("upstreams.azure-eu.fallback"))
                .hasMessageContaining("cycle: azure-eu -> local -> azure-eu");

        Map<String, String> self = azureAndLocal();
        self.put("upstreams.local.fallback", "local");
        assertThatThrownBy(() -> ProxySettings.from(self).toConfig())
                .isInstanceOfSatisfying(
                        InvalidSettingException.class, e -> assertThat(e.key()).isEqualTo("upstreams.local.fallback"));

        // The same upstream with another model is a step, not a cycle.
        Map<String, String> smaller = azureAndLocal();
        smaller.put("upstreams.local.fallback", "local:qwen2.5");
        assertThat(ProxySettings.from(smaller).toConfig().upstreams().get("local"))
                .isPresent();
    }

    @Test
    void anEmptyKeyListIsRefusedWithoutShowingAnyKey() {
        Map<String, String> m = azureAndLocal();
        m.put("upstreams.local.keys", " , ");
        assertThatThrownBy(() -> ProxySettings.from(m).toConfig())
                .isInstanceOfSatisfying(
                        InvalidSettingException.class, e -> assertThat(e.key()).isEqualTo("upstreams.local.keys"))
                .hasMessageContaining("empty key list");

        Map<String, String> noKeys = azureAndLocal();
        noKeys.remove("upstreams.azure-eu.keys");
        assertThatThrownBy(() -> ProxySettings.from(noKeys).toConfig())
                .isInstanceOfSatisfying(
                        InvalidSettingException.class, e -> assertThat(e.key()).isEqualTo("upstreams.azure-eu.keys"));

        Map<String, String> spaced = azureAndLocal();
        spaced.put("upstreams.azure-eu.keys", "sk-good, sk bad-secret");
        assertThatThrownBy(() -> ProxySettings.from(spaced).toConfig())
                .isInstanceOfSatisfying(InvalidSettingException.class, e -> {
                    assertThat(e.key()).isEqualTo("upstreams.azure-eu.keys");
                    assertThat(e.value()).isNull();
                })
                .message()
                .doesNotContain("sk-good")
                .doesNotContain("bad-secret");
    }

    @Test
    void otherMistakesAreRefusedNamingTheSetting() {
        Map<String, String> noVersion = azureAndLocal();
        noVersion.remove("upstreams.azure-eu.api-version");
        assertThatThrownBy(() -> ProxySettings.from(noVersion).toConfig())
                .isInstanceOfSatisfying(
                        InvalidSettingException.class,
                        e -> assertThat(e.key()).isEqualTo("upstreams.azure-eu.api-version"));

        Map<String, String> noUrl = azureAndLocal();
        noUrl.remove("upstreams.local.base-url");
        assertThatThrownBy(() -> ProxySettings.from(noUrl).toConfig())
                .isInstanceOfSatisfying(
                        InvalidSettingException.class, e -> assertThat(e.key()).isEqualTo("upstreams.local.base-url"));

        Map<String, String> badAlias = azureAndLocal();
        badAlias.put("upstreams.azure-eu.aliases", "gpt-4o");
        assertThatThrownBy(() -> ProxySettings.from(badAlias).toConfig())
                .isInstanceOfSatisfying(
                        InvalidSettingException.class,
                        e -> assertThat(e.key()).isEqualTo("upstreams.azure-eu.aliases"));

        Map<String, String> badKind = azureAndLocal();
        badKind.put("upstreams.local.kind", "bedrock");
        assertThatThrownBy(() -> ProxySettings.from(badKind).toConfig())
                .isInstanceOfSatisfying(
                        InvalidSettingException.class, e -> assertThat(e.key()).isEqualTo("upstreams.local.kind"));

        Map<String, String> misspelt = azureAndLocal();
        misspelt.put("upstreams.local.fallbacks", "azure-eu");
        assertThatThrownBy(() -> ProxySettings.from(misspelt).toConfig())
                .isInstanceOf(InvalidSettingException.class)
                .hasMessageContaining("upstreams.local.fallbacks");
    }

    @Test
    void aModelsEntryThatCanMatchNoModelNameIsRefusedNamingTheSetting() {
        for (String entry : List.of("gpt-4?", "gpt 4o*", "gpt-[45]o", "\"gpt-4o\"", "gpt\u20104o", "llama\u00003*")) {
            Map<String, String> m = azureAndLocal();
            m.put("upstreams.local.models", "qwen2.5, " + entry);
            assertThatThrownBy(() -> ProxySettings.from(m).toConfig())
                    .as(entry)
                    .isInstanceOfSatisfying(
                            InvalidSettingException.class,
                            e -> assertThat(e.key()).isEqualTo("upstreams.local.models"))
                    .hasMessageContaining("can match no model name");
        }
        Map<String, String> names = azureAndLocal();
        names.put("upstreams.local.models", "llama3:8b*, meta-llama/Llama-3-8B, ft:gpt-4o:org:id, qwen2.5@q4+x, *");
        assertThat(ProxySettings.from(names).toConfig().upstreams().route("llama3:8b-instruct"))
                .map(NamedUpstream::name)
                .contains("local");
    }

    @Test
    void aGlobShadowedByAnEarlierUpstreamMatchesNothingAndIsRefusedNamingTheSetting() {
        // Upstreams are taken in name order: azure-eu before local.
        Map<String, String> same = azureAndLocal();
        same.put("upstreams.local.models", "llama3*, gpt-4o*");
        assertThatThrownBy(() -> ProxySettings.from(same).toConfig())
                .isInstanceOfSatisfying(
                        InvalidSettingException.class, e -> assertThat(e.key()).isEqualTo("upstreams.local.models"))
                .hasMessageContaining("gpt-4o*")
                .hasMessageContaining("azure-eu");

        Map<String, String> afterCatchAll = azureAndLocal();
        afterCatchAll.put("upstreams.azure-eu.models", "gpt-4o, *");
        assertThatThrownBy(() -> ProxySettings.from(afterCatchAll).toConfig())
                .isInstanceOfSatisfying(
                        InvalidSettingException.class, e -> assertThat(e.key()).isEqualTo("upstreams.local.models"))
                .hasMessageContaining("llama3*");

        // An exact name next to an earlier glob still routes (exact names come first), and a catch-all last is fine.
        Map<String, String> fine = azureAndLocal();
        fine.put("upstreams.local.models", "gpt-4o-audio, *");
        assertThat(ProxySettings.from(fine).toConfig().upstreams().route("gpt-4o-audio"))
                .map(NamedUpstream::name)
                .contains("local");
    }

    @Test
    void theBreakerSettingsBindWithTheirDefaultsAndRefuseNonsenseNamingTheSetting() {
        assertThat(ProxySettings.from(azureAndLocal()).toConfig().upstreams().get("local"))
                .hasValueSatisfying(u -> {
                    assertThat(u.retry().breakerFailures()).isEqualTo(5);
                    assertThat(u.retry().breakerOpen()).isEqualTo(java.time.Duration.ofSeconds(30));
                });
        Map<String, String> set = azureAndLocal();
        set.put("upstreams.local.breaker-failures", "0");
        set.put("upstreams.local.breaker-open", "2m");
        assertThat(ProxySettings.from(set).toConfig().upstreams().get("local")).hasValueSatisfying(u -> {
            assertThat(u.retry().breakerFailures()).isZero();
            assertThat(u.retry().breakerOpen()).isEqualTo(java.time.Duration.ofMinutes(2));
        });

        Map<String, String> negative = azureAndLocal();
        negative.put("upstreams.local.breaker-failures", "-1");
        assertThatThrownBy(() -> ProxySettings.from(negative).toConfig())
                .isInstanceOfSatisfying(
                        InvalidSettingException.class,
                        e -> assertThat(e.key()).isEqualTo("upstreams.local.breaker-failures"));
        Map<String, String> zero = azureAndLocal();
        zero.put("upstreams.local.breaker-open", "0s");
        assertThatThrownBy(() -> ProxySettings.from(zero).toConfig())
                .isInstanceOfSatisfying(
                        InvalidSettingException.class,
                        e -> assertThat(e.key()).isEqualTo("upstreams.local.breaker-open"));
    }
}
