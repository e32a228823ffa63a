package io.github.openaiproxy.core.usage;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Properties;
import java.util.Set;

/**
 * What models cost, in US dollars: input, cached input and output tokens per million, and images per
 * quality and size. {@link #shipped()} holds OpenAI's published Standard-tier prices (developers.openai.com/api/docs/pricing) as
 * of the month they were copied ({@link #copied()}); {@link #from(PricesConfig)} adds the configured overrides and default price.
 *
 * <p>A model name finds its price by exact name, else by the longest priced name it starts with followed by
 * {@code -}: the snapshot {@code gpt-4o-2024-08-06} is priced as {@code gpt-4o}, {@code gpt-4o-mini-2024-07-18}
 * as {@code gpt-4o-mini}. Names are compared in lower case. A fine-tuned model ({@code ft:...}) has no shipped
 * price.
 *
 * <p>Images: an answer without token usage (DALL-E) is priced per image by quality and size; an unset or
 * {@code auto} size is {@code 1024x1024}, an unset or {@code auto} quality is {@code standard}, except for
 * {@code gpt-image-1}, whose {@code auto} is priced as {@code medium}. An answer with token usage
 * ({@code gpt-image-1}) is priced by its tokens. A model with token prices and no per-image price has each image
 * without usage priced as the output tokens it may take (see {@code imageOutputTokens}).
 */
public final class PriceTable {
    private static final String RESOURCE = "openai-prices.properties";
    private static final BigDecimal NANOS_PER_DOLLAR = BigDecimal.valueOf(1_000_000_000L);
    /** Nano-dollars per token at one dollar per million tokens. */
    private static final BigDecimal NANOS_PER_TOKEN_AT_ONE_DOLLAR_PER_MILLION = BigDecimal.valueOf(1_000L);

    private static final BigDecimal LONG_MAX = BigDecimal.valueOf(Long.MAX_VALUE);
    /** Names longer than this are never priced (a 10 KB model name costs no more than a short one). */
    private static final int MAX_NAME = 256;

    private static final String DEFAULT_SIZE = "1024x1024";
    private static final String DEFAULT_QUALITY = "standard";
    private static final Map<String, String> AUTO_QUALITY = Map.of("gpt-image-1", "medium");

    private static final PriceTable SHIPPED = load();

    private final String copied;
    private final Map<String, ModelPrice> models;
    /** Audio input and output tokens' prices ({@code [input, output]}), by model (a snapshot finds its model). */
    private final Map<String, BigDecimal[]> audio;
    /** Priority-tier prices, by the name of the Standard price they go with. */
    private final Map<String, ModelPrice> priority;
    /** The model prices that are OpenAI's (shipped, not replaced by configuration): only they have Flex at half. */
    private final Set<String> openAi;

    private final Map<String, BigDecimal> images;
    private final Set<String> imageModels;
    private final Optional<ModelPrice> defaultPrice;

    private PriceTable(
            String copied,
            Map<String, ModelPrice> models,
            Map<String, ModelPrice> priority,
            Set<String> openAi,
            Map<String, BigDecimal[]> audio,
            Map<String, BigDecimal> images,
            Optional<ModelPrice> def) {
        this.copied = copied;
        this.audio = Map.copyOf(audio);
        this.models = Map.copyOf(models);
        this.priority = Map.copyOf(priority);
        this.openAi = Set.copyOf(openAi);
        this.images = Map.copyOf(images);
        Set<String> names = new HashSet<>();
        for (String key : images.keySet()) {
            names.add(key.substring(0, key.indexOf('/')));
        }
        this.imageModels = Set.copyOf(names);
        this.defaultPrice = def;
    }

    /** The prices shipped with the proxy (OpenAI's, see {@link #copied()}), without a default price. */
    public static PriceTable shipped() {
        return SHIPPED;
    }

    /** The shipped prices with {@code config}'s overrides (they win) and its default price. */
    public static PriceTable from(PricesConfig config) {
        if (config.models().isEmpty()
                && config.images().isEmpty()
                && config.defaultPrice().isEmpty()) {
            return SHIPPED;
        }
        Map<String, ModelPrice> m = new HashMap<>(SHIPPED.models);
        m.putAll(config.models());
        Map<String, BigDecimal> i = new HashMap<>(SHIPPED.images);
        i.putAll(config.images());
        // A configured Standard price replaces the shipped Priority price that went with the shipped one.
        Map<String, ModelPrice> priority = new HashMap<>(SHIPPED.priority);
        priority.keySet().removeAll(config.models().keySet());
        Set<String> openAi = new HashSet<>(SHIPPED.models.keySet());
        openAi.removeAll(config.models().keySet());
        return new PriceTable(SHIPPED.copied, m, priority, openAi, SHIPPED.audio, i, config.defaultPrice());
    }

    /** The month the shipped prices are from, for example {@code 2026-10}. */
    public String copied() {
        return copied;
    }

    /** A model's token prices, in US dollars per million tokens. */
    public record ModelPrice(BigDecimal input, BigDecimal cachedInput, BigDecimal output) {
        public ModelPrice {
            Objects.requireNonNull(input, "input");
            Objects.requireNonNull(cachedInput, "cachedInput");
            Objects.requireNonNull(output, "output");
        }
    }

    /** The token prices of {@code model} (a dated snapshot such as {@code gpt-4o-2024-08-06} finds its model). */
    public Optional<ModelPrice> find(String model) {
        String name = resolve(models.keySet(), model);
        return name == null ? Optional.empty() : Optional.of(models.get(name));
    }

    /** The configured price of models without one ({@code limits.default-price}); empty when none. */
    public Optional<ModelPrice> defaultPrice() {
        return defaultPrice;
    }

    /** The price of one image of {@code model} at this quality and size (see the class comment for defaults). */
    public Optional<BigDecimal> imagePrice(String model, String quality, String size) {
        String name = resolve(imageModels, model);
        if (name == null) {
            return Optional.empty();
        }
        String s = size == null || size.isBlank() || "auto".equalsIgnoreCase(size)
                ? DEFAULT_SIZE
                : size.strip().toLowerCase(Locale.ROOT);
        String q = quality == null || quality.isBlank() || "auto".equalsIgnoreCase(quality)
                ? AUTO_QUALITY.getOrDefault(name, DEFAULT_QUALITY)
                : quality.strip().toLowerCase(Locale.ROOT);
        if (s.length() > MAX_NAME || q.length() > MAX_NAME) {
            return Optional.empty();
        }
        return Optional.ofNullable(images.get(imageKey(name, q, s)));
    }

    /**
     * The cost of {@code usage} on {@code model} in nano-dollars (10^-9 USD), rounded up; empty when the model
     * has no price. Input tokens not served from the cache are priced at the input price, cached ones at the
     * cached price, output tokens at the output price; the audio tokens among the uncached input and the output at
     * the model's audio prices, where the table has them. Images are priced by {@code size} and {@code quality}
     * when the answer has no output tokens, and alone for a model priced only per image (DALL-E, whatever input
     * tokens the usage holds). Nothing used costs 0.
     */
    public OptionalLong costNanoUsd(String model, TokenUsage usage, String size, String quality) {
        return costNanoUsd(model, usage, size, quality, false);
    }

    /**
     * As {@link #costNanoUsd(String, TokenUsage, String, String)}; with {@code orDefault}, tokens of a model
     * without a price are priced at the {@link #defaultPrice()} (when there is one).
     */
    public OptionalLong costNanoUsd(String model, TokenUsage usage, String size, String quality, boolean orDefault) {
        return costNanoUsd(model, usage, size, quality, orDefault, null);
    }

    /**
     * As {@link #costNanoUsd(String, TokenUsage, String, String, boolean)}, for an answer served on {@code
     * serviceTier} (the {@code service_tier} it names; {@code null} when none). {@code flex} tokens cost half
     * at a shipped price (OpenAI bills Flex at the Batch API's rates), the price itself at a configured or default
     * one (Groq's flex costs its on-demand price); {@code priority} (and {@code ultrafast}) tokens cost the
     * model's shipped Priority price, else 2.5 times its price (the largest premium OpenAI
     * publishes: GPT-5.5's), so that a budget is not charged less than the bill; any other tier ({@code default},
     * {@code auto}, {@code scale}, another upstream's {@code on_demand} or {@code performance}, any unknown name) the
     * Standard price. Images priced per image are not affected.
     */
    public OptionalLong costNanoUsd(
            String model, TokenUsage usage, String size, String quality, boolean orDefault, String serviceTier) {
        long in = Math.max(0, usage.inputTokens());
        long cached = Math.min(in, Math.max(0, usage.cachedInputTokens()));
        long out = Math.max(0, usage.outputTokens());
        BigDecimal nanos = BigDecimal.ZERO;
        // DALL-E is billed per image alone: the tokens of its prompt (an estimate counts them) cost nothing, and
        // must not make a model without token prices (or with only the configured default's) look unpriced.
        boolean perImage =
                usage.images() > 0 && resolve(models.keySet(), model) == null && resolve(imageModels, model) != null;
        if (!perImage && (in > 0 || out > 0)) {
            ModelPrice p = tierPrice(model, priceOf(model, orDefault), serviceTier);
            if (p == null) {
                return OptionalLong.empty();
            }
            // Audio tokens (inside the input and output) at the model's audio price, where it has one.
            String audioName = resolve(audio.keySet(), model);
            BigDecimal[] a = audioName == null ? null : audio.get(audioName);
            long audioIn = a == null ? 0 : Math.min(in - cached, Math.max(0, usage.audioInputTokens()));
            long audioOut = a == null ? 0 : Math.min(out, Math.max(0, usage.audioOutputTokens()));
            BigDecimal dollarsPerMillionTimesTokens = p.input()
                    .multiply(BigDecimal.valueOf(in - cached - audioIn))
                    .add(p.cachedInput().multiply(BigDecimal.valueOf(cached)))
                    .add(p.output().multiply(BigDecimal.valueOf(out - audioOut)));
            if (a != null) {
                dollarsPerMillionTimesTokens = dollarsPerMillionTimesTokens
                        .add(a[0].multiply(BigDecimal.valueOf(audioIn)))
                        .add(a[1].multiply(BigDecimal.valueOf(audioOut)));
            }
            nanos = nanos.add(dollarsPerMillionTimesTokens.multiply(NANOS_PER_TOKEN_AT_ONE_DOLLAR_PER_MILLION));
        }
        if (usage.images() > 0 && (out == 0 || perImage)) {
            Optional<BigDecimal> each = imagePrice(model, quality, size);
            ModelPrice tokens = each.isEmpty() && !perImage ? priceOf(model, orDefault) : null;
            if (each.isPresent()) {
                nanos = nanos.add(each.get().multiply(NANOS_PER_DOLLAR).multiply(BigDecimal.valueOf(usage.images())));
            } else if (tokens != null) {
                // A model priced by tokens alone (gpt-image-1.5, -2, -2.5-*): each image as the output tokens it
                // may take. An estimate (the answer's usage settles it); without it such models were unpriced.
                nanos = nanos.add(tokens.output()
                        .multiply(BigDecimal.valueOf(imageOutputTokens(quality, size)))
                        .multiply(BigDecimal.valueOf(usage.images()))
                        .multiply(NANOS_PER_TOKEN_AT_ONE_DOLLAR_PER_MILLION));
            } else {
                return OptionalLong.empty();
            }
        }
        return OptionalLong.of(toNanos(nanos));
    }

    /**
     * What a request may cost at most, for a reservation: {@code inputTokens} at the input price (no cache
     * discount) plus {@code maxOutputTokens} at the output price, in nano-dollars rounded up; empty when the
     * model has no price (nor, with {@code orDefault}, a default price).
     */
    public OptionalLong estimateNanoUsd(String model, long inputTokens, long maxOutputTokens, boolean orDefault) {
        ModelPrice p = priceOf(model, orDefault);
        if (p == null) {
            return OptionalLong.empty();
        }
        BigDecimal sum = p.input()
                .multiply(BigDecimal.valueOf(Math.max(0, inputTokens)))
                .add(p.output().multiply(BigDecimal.valueOf(Math.max(0, maxOutputTokens))));
        return OptionalLong.of(toNanos(sum.multiply(NANOS_PER_TOKEN_AT_ONE_DOLLAR_PER_MILLION)));
    }

    /** Priority tokens without a shipped Priority price cost this many times their Standard price. */
    static final String PRIORITY_PREMIUM = "2.5";

    private static final BigDecimal PREMIUM = new BigDecimal(PRIORITY_PREMIUM);
    private static final BigDecimal HALF = new BigDecimal("0.5");

    /** {@code standard} as billed on {@code tier}. */
    private ModelPrice tierPrice(String model, ModelPrice standard, String tier) {
        if (standard == null || tier == null) {
            return standard;
        }
        return switch (tier) {
            // Flex is half at OpenAI; another upstream's flex (Groq's costs its on-demand price) is its own.
            case "flex" ->
                openAi.contains(Objects.requireNonNullElse(resolve(models.keySet(), model), ""))
                        ? scaled(standard, HALF)
                        : standard;
            case "priority", "ultrafast" -> {
                String name = resolve(models.keySet(), model);
                ModelPrice shipped = name == null ? null : priority.get(name);
                yield shipped != null ? shipped : scaled(standard, PREMIUM);
            }
            default -> standard;
        };
    }

    private static ModelPrice scaled(ModelPrice p, BigDecimal factor) {
        return new ModelPrice(
                p.input().multiply(factor),
                p.cachedInput().multiply(factor),
                p.output().multiply(factor));
    }

    private ModelPrice priceOf(String model, boolean orDefault) {
        String name = resolve(models.keySet(), model);
        if (name != null) {
            return models.get(name);
        }
        return orDefault ? defaultPrice.orElse(null) : null;
    }

    /**
     * The output tokens one image may take: gpt-image-1's published counts for 1024x1024 (low 272, medium 1056,
     * high 4160; {@code auto} or none as high, a higher or unknown quality as twice high), scaled by the size's
     * pixels ({@code auto}, none or unreadable as 1536x1024, the largest standard size).
     */
    static long imageOutputTokens(String quality, String size) {
        String q = quality == null ? "" : quality.strip().toLowerCase(Locale.ROOT);
        long perMegapixel = switch (q) {
            case "low" -> 272;
            case "medium" -> 1056;
            case "high", "auto", "" -> 4160;
            default -> 8320;
        };
        long pixels = 1536L * 1024L;
        java.util.regex.Matcher m = size == null ? null : IMAGE_SIZE.matcher(size.strip());
        if (m != null && m.matches()) {
            pixels = Long.parseLong(m.group(1)) * Long.parseLong(m.group(2));
        }
        return Math.max(1, (perMegapixel * pixels + 1024L * 1024L - 1) / (1024L * 1024L));
    }

    private static final java.util.regex.Pattern IMAGE_SIZE = java.util.regex.Pattern.compile("(\\d{1,5})x(\\d{1,5})");

    private static long toNanos(BigDecimal nanos) {
        BigDecimal up = nanos.setScale(0, RoundingMode.CEILING);
        return up.compareTo(LONG_MAX) >= 0 ? Long.MAX_VALUE : up.longValueExact();
    }

    /**
     * The priced name {@code model} finds: itself, else the longest name in {@code names} it starts with
     * followed by {@code -}; {@code null} when none.
     */
    private static String resolve(Set<String> names, String model) {
        if (model == null || model.isEmpty() || model.length() > MAX_NAME) {
            return null;
        }
        String m = model.toLowerCase(Locale.ROOT);
        if (names.contains(m)) {
            return m;
        }
        for (int dash = m.lastIndexOf('-'); dash > 0; dash = m.lastIndexOf('-', dash - 1)) {
            String prefix = m.substring(0, dash);
            if (names.contains(prefix)) {
                return prefix;
            }
        }
        return null;
    }

    /** The key of an image price: {@code model/quality/size}. */
    static String imageKey(String model, String quality, String size) {
        return model + "/" + quality + "/" + size;
    }

    private static PriceTable load() {
        Properties p = new Properties();
        try (InputStream in = PriceTable.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException(RESOURCE + " is missing from the class path");
            }
            p.load(in);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Map<String, ModelPrice> models = new HashMap<>();
        Map<String, ModelPrice> priority = new HashMap<>();
        Map<String, BigDecimal[]> audio = new HashMap<>();
        Map<String, BigDecimal> images = new HashMap<>();
        for (String key : p.stringPropertyNames()) {
            String value = p.getProperty(key);
            if (key.startsWith("model.")) {
                models.put(key.substring(6), PricesConfig.parseModelPrice(value));
            } else if (key.startsWith("audio.")) {
                String[] parts = value.strip().split("/");
                if (parts.length != 2) {
                    throw new IllegalStateException(RESOURCE + ": " + key + " is not <input>/<output>");
                }
                audio.put(key.substring(6), new BigDecimal[] {new BigDecimal(parts[0]), new BigDecimal(parts[1])});
            } else if (key.startsWith("priority.")) {
                priority.put(key.substring(9), PricesConfig.parseModelPrice(value));
            } else if (key.startsWith("image.")) {
                images.putAll(PricesConfig.parseImagePrices(java.util.List.of(key.substring(6) + "=" + value)));
            }
        }
        if (!models.keySet().containsAll(priority.keySet())) {
            throw new IllegalStateException(RESOURCE + ": a priority price without a model price");
        }
        return new PriceTable(
                p.getProperty("copied", "unknown"), models, priority, models.keySet(), audio, images, Optional.empty());
    }
}
