package io.github.openaiproxy.core.usage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.openaiproxy.core.config.InvalidSettingException;
import io.github.openaiproxy.core.config.ProxySettings;
import java.math.BigDecimal;
import java.util.Map;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The shipped OpenAI prices, snapshot names, the configured overrides and the nano-dollar arithmetic. */
class PriceTableTest {
    private static final PriceTable SHIPPED = PriceTable.shipped();

    private static PriceTable.ModelPrice price(String input, String cached, String output) {
        return new PriceTable.ModelPrice(new BigDecimal(input), new BigDecimal(cached), new BigDecimal(output));
    }

    private static PriceTable configured(Map<String, String> settings) {
        return PriceTable.from(ProxySettings.from(settings).toConfig().prices());
    }

    @Test
    void theShippedTableSaysWhenItWasCopied() {
        assertThat(SHIPPED.copied()).isEqualTo("2026-10");
    }

    @ParameterizedTest
    @CsvSource({
        "gpt-5, 1.25, 0.125, 10.00",
        "gpt-5-mini, 0.25, 0.025, 2.00",
        "gpt-5-nano, 0.05, 0.005, 0.40",
        "gpt-4.1, 2.00, 0.50, 8.00",
        "gpt-4.1-mini, 0.40, 0.10, 1.60",
        "gpt-4.1-nano, 0.10, 0.025, 0.40",
        "gpt-4o, 2.50, 1.25, 10.00",
        "gpt-4o-mini, 0.15, 0.075, 0.60",
        "o1, 15.00, 7.50, 60.00",
        "o3, 2.00, 0.50, 8.00",
        "o3-mini, 1.10, 0.55, 4.40",
        "o4-mini, 1.10, 0.275, 4.40",
        "gpt-4-turbo, 10.00, 10.00, 30.00",
        "gpt-4, 30.00, 30.00, 60.00",
        "gpt-3.5-turbo, 0.50, 0.50, 1.50",
        "text-embedding-3-small, 0.02, 0.02, 0",
        "text-embedding-3-large, 0.13, 0.13, 0",
        "text-embedding-ada-002, 0.10, 0.10, 0",
        // Snapshots find their model: the longest priced name followed by '-'.
        "gpt-4o-2024-08-06, 2.50, 1.25, 10.00",
        "gpt-4o-mini-2024-07-18, 0.15, 0.075, 0.60",
        "gpt-4-turbo-2024-04-09, 10.00, 10.00, 30.00",
        "gpt-4-0613, 30.00, 30.00, 60.00",
        "gpt-3.5-turbo-0125, 0.50, 0.50, 1.50",
        "GPT-4o-Mini, 0.15, 0.075, 0.60",
        // A snapshot priced differently from its model has its own line.
        "gpt-4o-2024-05-13, 5.00, 5.00, 15.00",
        // The 2026 models.
        "gpt-6-astra, 10.00, 1.00, 50.00",
        "gpt-6.1-sol, 2.00, 0.10, 10.00",
        "gpt-6-sol, 2.00, 0.20, 10.00",
        "gpt-6-luna, 0.10, 0.01, 0.50",
        "gpt-5.6-sol, 4.00, 0.40, 20.00",
        "gpt-5.6-terra, 2.00, 0.20, 12.00",
        "gpt-5.6-luna, 0.20, 0.02, 1.20",
        "gpt-5.5, 5.00, 0.50, 30.00",
        "gpt-5.4, 2.50, 0.25, 15.00",
        "gpt-5.3-codex, 1.75, 0.175, 14.00",
        "gpt-5.2, 1.75, 0.175, 14.00",
        "gpt-5.1, 1.25, 0.125, 10.00",
        // A variant priced differently from its family is not priced as the family.
        "gpt-5.4-mini, 0.75, 0.075, 4.50",
        "gpt-5.4-nano, 0.20, 0.02, 1.25",
        "gpt-5.4-pro, 30.00, 30.00, 180.00",
        "gpt-5.1-codex-mini, 0.25, 0.025, 2.00",
        "gpt-image-1-mini, 2.00, 0.20, 8.00",
        // Dated snapshots and variants without a line of their own find the longest priced name.
        "gpt-5.4-2026-03-05, 2.50, 0.25, 15.00",
        "gpt-5.4-mini-2026-03-17, 0.75, 0.075, 4.50",
        "gpt-5.5-pro-2026-04-23, 30.00, 30.00, 180.00",
        "gpt-5-pro-2025-10-06, 15.00, 15.00, 120.00",
        "gpt-5.6-sol-2026-09-03, 4.00, 0.40, 20.00",
        "gpt-5.2-codex, 1.75, 0.175, 14.00",
        "gpt-5.1-codex-max, 1.25, 0.125, 10.00",
        "gpt-image-2-2026-04-21, 2.50, 0.625, 15.00"
    })
    void shippedPrices(String model, String input, String cached, String output) {
        assertThat(SHIPPED.find(model)).contains(price(input, cached, output));
    }

    @ParameterizedTest
    @CsvSource({
        "my-local-model",
        "gpt",
        "gpt-4o2",
        "ft:gpt-4o-mini-2024-07-18:acme::x1",
        "''",
        // A family name that is no model of its own, and a newer model than the table knows.
        "gpt-6",
        "gpt-image-2.5",
        "gpt-6.2-sol"
    })
    void unpricedModels(String model) {
        assertThat(SHIPPED.find(model)).isEmpty();
        assertThat(SHIPPED.costNanoUsd(model, new TokenUsage(10, 0, 10, 0, 0), null, null))
                .isEmpty();
    }

    @Test
    void aModelNameOfTenKilobytesIsUnpricedCheaply() {
        String name = "gpt-4o" + "-x".repeat(5000);
        assertThat(SHIPPED.find(name)).isEmpty();
        assertThat(SHIPPED.find(null)).isEmpty();
    }

    @Test
    void costIsUncachedInputPlusCachedInputPlusOutputInNanoDollars() {
        // gpt-4o: 800 uncached at $2.50/M + 200 cached at $1.25/M + 500 output at $10/M = $0.00725
        assertThat(SHIPPED.costNanoUsd("gpt-4o-2024-08-06", new TokenUsage(1000, 200, 500, 100, 0), null, null))
                .isEqualTo(OptionalLong.of(7_250_000));
        // Cached tokens beyond the input (a broken answer) are capped at the input.
        assertThat(SHIPPED.costNanoUsd("gpt-4o", new TokenUsage(100, 900, 0, 0, 0), null, null))
                .isEqualTo(OptionalLong.of(125_000));
        assertThat(SHIPPED.costNanoUsd("some-model", TokenUsage.NONE, null, null))
                .isEqualTo(OptionalLong.of(0));
    }

    @Test
    void costIsRoundedUpToTheNextNanoDollar() {
        PriceTable t = configured(Map.of("limits.prices", "tiny=0.0001/0.0001/0.0001"));
        // one token at $0.0001 per million = 0.1 nano-dollar
        assertThat(t.costNanoUsd("tiny", new TokenUsage(1, 0, 0, 0, 0), null, null))
                .isEqualTo(OptionalLong.of(1));
        assertThat(t.costNanoUsd("tiny", new TokenUsage(10, 0, 1, 0, 0), null, null))
                .isEqualTo(OptionalLong.of(2));
    }

    @Test
    void hugeNumbersSaturateInsteadOfOverflowing() {
        assertThat(SHIPPED.costNanoUsd("o1", new TokenUsage(Long.MAX_VALUE, 0, Long.MAX_VALUE, 0, 0), null, null))
                .isEqualTo(OptionalLong.of(Long.MAX_VALUE));
    }

    @Test
    void imagesArePricedByModelQualityAndSize() {
        TokenUsage two = new TokenUsage(0, 0, 0, 0, 2);
        TokenUsage one = new TokenUsage(0, 0, 0, 0, 1);
        assertThat(SHIPPED.costNanoUsd("dall-e-3", two, "1024x1792", "hd")).isEqualTo(OptionalLong.of(240_000_000));
        assertThat(SHIPPED.costNanoUsd("dall-e-3", one, null, null)).isEqualTo(OptionalLong.of(40_000_000));
        assertThat(SHIPPED.costNanoUsd("dall-e-2", one, "256x256", null)).isEqualTo(OptionalLong.of(16_000_000));
        assertThat(SHIPPED.costNanoUsd("dall-e-2", one, null, null)).isEqualTo(OptionalLong.of(20_000_000));
        // gpt-image-1: auto is priced as medium 1024x1024
        assertThat(SHIPPED.costNanoUsd("gpt-image-1", one, "auto", "auto")).isEqualTo(OptionalLong.of(42_000_000));
        assertThat(SHIPPED.costNanoUsd("gpt-image-1", one, "1536x1024", "high"))
                .isEqualTo(OptionalLong.of(250_000_000));
        // An unknown size or quality is unpriced.
        assertThat(SHIPPED.costNanoUsd("dall-e-3", one, "2048x2048", "hd")).isEmpty();
        assertThat(SHIPPED.imagePrice("dall-e-3", "ultra", "1024x1024")).isEmpty();
    }

    @Test
    void aModelPricedOnlyPerImageIsPricedByItsImagesWhateverInputTokensTheUsageHolds() {
        // An estimate (or a tap) counts the prompt's tokens; DALL-E bills the image alone.
        TokenUsage promptAndImage = new TokenUsage(12, 0, 0, 0, 1);
        assertThat(SHIPPED.costNanoUsd("dall-e-3", promptAndImage, "1024x1024", null))
                .isEqualTo(OptionalLong.of(40_000_000));
        // Nor does a configured default price for unpriced tokens apply to it.
        PriceTable withDefault = configured(Map.of("limits.default-price", "100/100/100"));
        assertThat(withDefault.costNanoUsd("dall-e-3", promptAndImage, "1024x1024", null, true))
                .isEqualTo(OptionalLong.of(40_000_000));
        // Without images the tokens of a model without token prices are still unpriced.
        assertThat(SHIPPED.costNanoUsd("dall-e-3", new TokenUsage(12, 0, 0, 0, 0), null, null))
                .isEmpty();
    }

    @Test
    void anImageAnswerWithTokenUsageIsPricedByItsTokens() {
        // gpt-image-1: 50 text tokens in at $5/M, 1056 image tokens out at $40/M
        assertThat(SHIPPED.costNanoUsd("gpt-image-1", new TokenUsage(50, 0, 1056, 0, 1), "1024x1024", "medium"))
                .isEqualTo(OptionalLong.of(50 * 5_000L + 1056 * 40_000L));
        // gpt-image-2: 100 text tokens in (40 cached) at $2.50/M and $0.625/M, 1000 image tokens out at $15/M
        assertThat(SHIPPED.costNanoUsd("gpt-image-2", new TokenUsage(100, 40, 1000, 0, 1), "1024x1024", "high"))
                .isEqualTo(OptionalLong.of(60 * 2_500L + 40 * 625L + 1000 * 15_000L));
        // The later GPT Image models have no per-image price: an image without usage (an estimate) is taken as the
        // output tokens it may take, 4160 at high quality and 1024x1024, at $15/M.
        assertThat(SHIPPED.costNanoUsd("gpt-image-2", new TokenUsage(0, 0, 0, 0, 1), "1024x1024", "high"))
                .isEqualTo(OptionalLong.of(4160 * 15_000L));
        // A model with neither price stays unpriced.
        assertThat(SHIPPED.costNanoUsd("my-painter", new TokenUsage(0, 0, 0, 0, 1), "1024x1024", "high"))
                .isEmpty();
    }

    @ParameterizedTest
    @CsvSource({
        "low, 1024x1024, 272",
        "medium, 1024x1024, 1056",
        "high, 1024x1024, 4160",
        "high, 1024x1536, 6240",
        "low, 1536x1024, 408",
        "auto, auto, 6240",
        ", , 6240",
        "xhigh, 1024x1024, 8320",
        "max, 3840x2160, 65813",
        "high, not-a-size, 6240",
        "high, 99999x99999, 39672059"
    })
    void imageOutputTokensFollowGptImage1sTableScaledByPixels(String quality, String size, long tokens) {
        assertThat(PriceTable.imageOutputTokens(quality, size)).isEqualTo(tokens);
    }

    @Test
    void overridesReplaceAndAddPrices() {
        PriceTable t = configured(Map.of(
                "limits.prices", "gpt-4o=1/0.5/2, my-model=0.1/0.05/0.2",
                "limits.image-prices", "dall-e-3/hd/1024x1024=1.5, my-painter/standard/512x512=0.01"));
        assertThat(t.find("gpt-4o-2024-08-06")).contains(price("1", "0.5", "2"));
        assertThat(t.find("my-model")).contains(price("0.1", "0.05", "0.2"));
        assertThat(t.find("gpt-4o-mini")).contains(price("0.15", "0.075", "0.60")); // untouched
        assertThat(t.imagePrice("dall-e-3", "hd", "1024x1024")).contains(new BigDecimal("1.5"));
        assertThat(t.imagePrice("my-painter", null, "512x512")).contains(new BigDecimal("0.01"));
        assertThat(t.defaultPrice()).isEmpty();
    }

    @Test
    void theDefaultPriceChargesUnpricedModelsOnlyWhenAsked() {
        PriceTable t = configured(Map.of("limits.default-price", "1/0.5/4"));
        TokenUsage u = new TokenUsage(1000, 0, 1000, 0, 0);
        assertThat(t.costNanoUsd("my-local-model", u, null, null)).isEmpty();
        assertThat(t.costNanoUsd("my-local-model", u, null, null, true)).isEqualTo(OptionalLong.of(5_000_000));
        assertThat(t.costNanoUsd("gpt-4o", u, null, null, true)).isEqualTo(OptionalLong.of(12_500_000));
        assertThat(SHIPPED.costNanoUsd("my-local-model", u, null, null, true)).isEmpty();
    }

    @Test
    void estimatesPriceTheInputAndTheOutputCap() {
        assertThat(SHIPPED.estimateNanoUsd("gpt-4o-mini", 1000, 2000, false))
                .isEqualTo(OptionalLong.of(1000 * 150L + 2000 * 600L));
        assertThat(SHIPPED.estimateNanoUsd("unknown", 1000, 2000, false)).isEmpty();
        assertThat(configured(Map.of("limits.default-price", "1/1/1")).estimateNanoUsd("unknown", 1, 1, true))
                .isEqualTo(OptionalLong.of(2_000));
    }

    @Test
    void environmentVariablesReachThePrices() {
        PriceTable t = PriceTable.from(ProxySettings.fromEnvironment(Map.of(
                        "OPENAI_PROXY_LIMITS_PRICES", "my-model=3/2/1",
                        "OPENAI_PROXY_LIMITS_IMAGE_PRICES", "dall-e-2/standard/256x256=0.5",
                        "OPENAI_PROXY_LIMITS_DEFAULT_PRICE", "7/7/7"))
                .toConfig()
                .prices());
        assertThat(t.find("my-model")).contains(price("3", "2", "1"));
        assertThat(t.imagePrice("dall-e-2", null, "256x256")).contains(new BigDecimal("0.5"));
        assertThat(t.defaultPrice()).contains(price("7", "7", "7"));
    }

    @ParameterizedTest
    @CsvSource(
            delimiter = '|',
            value = {
                "limits.prices | gpt-4o=1/2",
                "limits.prices | gpt-4o=a/b/c",
                "limits.prices | =1/1/1",
                "limits.prices | gpt-4o",
                "limits.prices | gpt-4o=-1/1/1",
                "limits.prices | gpt-4o=1e9/1/1",
                "limits.prices | gpt-4o=0.0000000001/1/1",
                "limits.prices | gpt-4o=1/1/1, gpt-4o=2/2/2",
                "limits.image-prices | dall-e-3=0.04",
                "limits.image-prices | dall-e-3/hd=0.04",
                "limits.image-prices | dall-e-3/hd/1024x1024=x",
                "limits.image-prices | dall-e-3//1024x1024=1",
                "limits.default-price | 1/1",
                "limits.default-price | free"
            })
    void badValuesFailNamingTheKey(String key, String value) {
        assertThatThrownBy(() -> ProxySettings.from(Map.of(key, value)).toConfig())
                .isInstanceOfSatisfying(
                        InvalidSettingException.class, e -> assertThat(e.key()).isEqualTo(key))
                .hasMessageContaining(key);
    }

    @Test
    void aPriorityPriceGoesWithItsOwnModelNotWithAFamilyNameThatPrefixesIt() {
        TokenUsage million = new TokenUsage(1_000_000, 0, 0, 0, 0);
        // gpt-5.4-nano is not on the Priority page: 2.5 times its own $0.20, never gpt-5.4's Priority $5.00.
        assertThat(SHIPPED.costNanoUsd("gpt-5.4-nano", million, null, null, false, "priority"))
                .isEqualTo(OptionalLong.of(500_000_000));
        // A snapshot finds its model's Priority price; gpt-4o-2024-05-13 has its own.
        assertThat(SHIPPED.costNanoUsd("gpt-4o-2024-11-20", million, null, null, false, "priority"))
                .isEqualTo(OptionalLong.of(4_250_000_000L));
        assertThat(SHIPPED.costNanoUsd("gpt-4o-2024-05-13", million, null, null, false, "priority"))
                .isEqualTo(OptionalLong.of(8_750_000_000L));
        // A configured Standard price drops the shipped Priority price that went with the shipped one.
        PriceTable configured = PriceTable.from(new PricesConfig(
                java.util.Map.of(
                        "gpt-4o",
                        new PriceTable.ModelPrice(
                                java.math.BigDecimal.ONE, java.math.BigDecimal.ONE, java.math.BigDecimal.ONE)),
                java.util.Map.of(),
                java.util.Optional.empty()));
        assertThat(configured.costNanoUsd("gpt-4o", million, null, null, false, "priority"))
                .isEqualTo(OptionalLong.of(2_500_000_000L));
    }

    @Test
    void flexIsHalfOnlyAtOpenAisOwnPricesNotAtAConfiguredOrDefaultPrice() {
        TokenUsage million = new TokenUsage(1_000_000, 0, 0, 0, 0);
        PriceTable.ModelPrice dollar =
                new PriceTable.ModelPrice(java.math.BigDecimal.ONE, java.math.BigDecimal.ONE, java.math.BigDecimal.ONE);
        // Groq answers service_tier "flex" at its on-demand price; an unknown upstream's flex may be any price.
        PriceTable configured = PriceTable.from(new PricesConfig(
                java.util.Map.of("llama-3.3-70b-versatile", dollar, "gpt-4o", dollar),
                java.util.Map.of(),
                java.util.Optional.of(dollar)));

        assertThat(configured.costNanoUsd("llama-3.3-70b-versatile", million, null, null, false, "flex"))
                .isEqualTo(OptionalLong.of(1_000_000_000L));
        assertThat(configured.costNanoUsd("gpt-4o", million, null, null, false, "flex"))
                .isEqualTo(OptionalLong.of(1_000_000_000L));
        assertThat(configured.costNanoUsd("some-local-model", million, null, null, true, "flex"))
                .isEqualTo(OptionalLong.of(1_000_000_000L));
        // OpenAI's own price, not overridden: Flex at half.
        assertThat(configured.costNanoUsd("gpt-4o-mini", million, null, null, false, "flex"))
                .isEqualTo(OptionalLong.of(75_000_000L));
    }
}
