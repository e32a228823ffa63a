package io.github.openaiproxy.core.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.access.Policy;
import java.math.BigDecimal;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** {@code policies.<name>.<rule>} and {@code access.role-policies} from init parameters and the environment. */
class PolicySettingsTest {
    @Test
    void everyRuleBindsFromText() {
        Map<String, String> init = Map.ofEntries(
                Map.entry("access.role-policies", "admin=staff, user=free-tier"),
                Map.entry("policies.free-tier.routes", "chat, /v1/models/{id}"),
                Map.entry("policies.free-tier.models", "gpt-4o-mini, gpt-3.5*"),
                Map.entry("policies.free-tier.max-tokens", "200"),
                Map.entry("policies.free-tier.max-n", "2"),
                Map.entry("policies.free-tier.over-cap", "REFUSE"),
                Map.entry("policies.free-tier.image-models", "dall-e-2"),
                Map.entry("policies.free-tier.image-sizes", "256x256"),
                Map.entry("policies.free-tier.image-qualities", "standard"),
                Map.entry("policies.free-tier.requests-per-minute", "1"),
                Map.entry("policies.free-tier.requests-per-hour", "2"),
                Map.entry("policies.free-tier.requests-per-day", "3"),
                Map.entry("policies.free-tier.tokens-per-minute", "4"),
                Map.entry("policies.free-tier.tokens-per-day", "5"),
                Map.entry("policies.free-tier.tokens-per-month", "6000000000"),
                Map.entry("policies.free-tier.concurrent-requests", "7"),
                Map.entry("policies.free-tier.cost-per-day", "0.50"),
                Map.entry("policies.free-tier.cost-per-month", "10"),
                Map.entry("policies.staff.max-tokens", "4000"));
        ProxyConfig config = ProxySettings.from(init).toConfig();

        assertThat(config.access().rolePolicies())
                .containsExactly(Map.entry("admin", "staff"), Map.entry("user", "free-tier"));
        Policy free = config.access().policies().get("free-tier");
        assertThat(free)
                .isEqualTo(new Policy(
                        "free-tier",
                        List.of("chat", "/v1/models/{id}"),
                        List.of("gpt-4o-mini", "gpt-3.5*"),
                        200,
                        2,
                        Policy.OverCap.REFUSE,
                        List.of("dall-e-2"),
                        List.of("256x256"),
                        List.of("standard"),
                        new Policy.Quotas(
                                1L, 2L, 3L, 4L, 5L, 6_000_000_000L, 7L, new BigDecimal("0.50"), new BigDecimal("10"))));
        assertThat(config.access().policies().get("staff").maxTokens()).isEqualTo(4000);
        assertThat(config.access().policies().get("staff").overCap()).isEqualTo(Policy.OverCap.CLAMP);
        assertThat(config.access().policies()).containsKeys(Policy.KEYS, Policy.USERS, Policy.ANONYMOUS);
    }

    @Test
    void environmentVariablesNameThePolicyBeforeTheRule() {
        ProxyConfig config = ProxySettings.fromEnvironment(Map.of(
                        "OPENAI_PROXY_POLICIES_FREE_MAX_TOKENS", "100",
                        "OPENAI_PROXY_POLICIES_TEAM_A_MODELS", "gpt-4o",
                        // The longest rule wins: policy x, rule image-models (not policy x-image, rule models).
                        "OPENAI_PROXY_POLICIES_X_IMAGE_MODELS", "dall-e-3",
                        "OPENAI_PROXY_ACCESS_ROLE_POLICIES", "member=free",
                        "OPENAI_PROXY_UNRELATED", "1"))
                .toConfig();
        Map<String, Policy> p = config.access().policies();
        assertThat(p.get("free").maxTokens()).isEqualTo(100);
        assertThat(p.get("team-a").models()).containsExactly("gpt-4o");
        assertThat(p.get("x").imageModels()).containsExactly("dall-e-3");
        assertThat(p).doesNotContainKey("x-image");
        assertThat(config.access().rolePolicies()).containsExactly(Map.entry("member", "free"));
        assertThat(Setting.environmentName("policies.<name>.max-tokens"))
                .isEqualTo("OPENAI_PROXY_POLICIES_<NAME>_MAX_TOKENS");
    }

    @Test
    void aLaterSourceReplacesOnlyTheRulesItSets() {
        ProxyConfig.Builder b = ProxySettings.fromEnvironment(Map.of(
                        "OPENAI_PROXY_POLICIES_FREE_MODELS",
                        "gpt-4o-mini",
                        "OPENAI_PROXY_POLICIES_FREE_MAX_TOKENS",
                        "1"))
                .applyTo(ProxyConfig.builder());
        ProxyConfig config = ProxySettings.from(Map.of("policies.free.max-tokens", "50"))
                .applyTo(b)
                .build();
        assertThat(config.access().policies().get("free").models()).containsExactly("gpt-4o-mini");
        assertThat(config.access().policies().get("free").maxTokens()).isEqualTo(50);
    }

    @Test
    void refusalsNameTheKeyTheValueAndTheReason() {
        assertThatThrownBy(() -> ProxySettings.from(Map.of("policies.free.max-tokens", "lots"))
                        .toConfig())
                .isInstanceOf(InvalidSettingException.class)
                .hasMessage("Invalid value 'lots' for setting 'policies.free.max-tokens': not a whole number");
        assertThatThrownBy(() ->
                        ProxySettings.from(Map.of("policies.free.max-n", "0")).toConfig())
                .hasMessage("Invalid value '0' for setting 'policies.free.max-n': must be at least 1");
        assertThatThrownBy(() -> ProxySettings.from(Map.of("policies.free.over-cap", "truncate"))
                        .toConfig())
                .hasMessage("Invalid value 'truncate' for setting 'policies.free.over-cap': expected clamp or refuse");
        assertThatThrownBy(() -> ProxySettings.from(Map.of("policies.free.cost-per-day", "-1"))
                        .toConfig())
                .hasMessage("Invalid value '-1' for setting 'policies.free.cost-per-day': must not be negative");
        assertThatThrownBy(() -> ProxySettings.from(Map.of("policies.Free_Tier.models", "gpt-4o"))
                        .toConfig())
                .isInstanceOfSatisfying(
                        InvalidSettingException.class, e -> assertThat(e.key()).isEqualTo("policies.Free_Tier.models"))
                .hasMessageContaining("lower-case letters, digits and '-'");
        assertThatThrownBy(() -> ProxySettings.from(Map.of("policies.free.modles", "gpt-4o"))
                        .toConfig())
                .hasMessageStartingWith("Invalid value for setting 'policies.free.modles': no such policy rule")
                .hasMessageContaining("max-tokens");
        assertThatThrownBy(() -> ProxySettings.from(Map.of("policies.free.routes", "chat, Chat Completions"))
                        .toConfig())
                .hasMessageStartingWith("Invalid value 'chat, Chat Completions' for setting 'policies.free.routes'");
        assertThatThrownBy(() -> ProxySettings.from(Map.of("access.role-policies", "admin"))
                        .toConfig())
                .hasMessageStartingWith(
                        "Invalid value 'admin' for setting 'access.role-policies': expected role=policy");
        assertThatThrownBy(() -> ProxySettings.fromEnvironment(Map.of("OPENAI_PROXY_POLICIES_FREE_MAX_N", "x"))
                        .toConfig())
                .hasMessage("Invalid value 'x' for setting 'policies.free.max-n' (environment variable"
                        + " OPENAI_PROXY_POLICIES_FREE_MAX_N): not a whole number");
        // A misspelt rule from the environment is refused as from init parameters, naming its variable: left
        // unread, it would leave the policy unrestricted.
        assertThatThrownBy(
                        () -> ProxySettings.fromEnvironment(Map.of("OPENAI_PROXY_POLICIES_ANONYMOUS_MAX_TOKEN", "200"))
                                .toConfig())
                .hasMessageContaining("OPENAI_PROXY_POLICIES_ANONYMOUS_MAX_TOKEN")
                .hasMessageContaining("no such policy rule");
        // ... and never quotes what it holds: a KEY meant as KEYS holds a key.
        assertThatThrownBy(() -> ProxySettings.fromEnvironment(Map.of(
                                "OPENAI_PROXY_UPSTREAMS_AZURE_KEY", "sk-live-0123456789abcdefghij",
                                "OPENAI_PROXY_UPSTREAMS_AZURE_BASE_URL", "https://example.openai.azure.com"))
                        .toConfig())
                .isInstanceOfSatisfying(
                        InvalidSettingException.class,
                        e -> assertThat(e.value()).isNull())
                .hasMessageContaining("OPENAI_PROXY_UPSTREAMS_AZURE_KEY")
                .message()
                .doesNotContain("sk-live");
    }

    @Test
    void theCatalogDocumentsTheFamilyOnceAndFindsItsMembers() {
        assertThat(ProxySettings.KEYS).contains("access.role-policies", "policies.<name>.max-tokens");
        Setting member = ProxySettings.CATALOG.get("policies.team-a.max-tokens");
        assertThat(member.key()).isEqualTo("policies.team-a.max-tokens");
        assertThat(member.type()).isEqualTo(Setting.Type.INT);
        assertThat(ProxySettings.CATALOG.find("policies.team-a.nope")).isEmpty();
        assertThat(ProxySettings.CATALOG.find("policies.a.b.max-tokens")).isEmpty();
        // A source that cannot list its keys finds no policies (and needs none).
        assertThat(ProxySettings.from(k -> k.equals("policies.free.max-tokens") ? "5" : null)
                        .toConfig()
                        .access()
                        .policies())
                .containsOnlyKeys(Policy.KEYS, Policy.USERS, Policy.ANONYMOUS);
    }
}
