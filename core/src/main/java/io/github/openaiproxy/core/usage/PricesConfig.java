package io.github.openaiproxy.core.usage;

import java.math.BigDecimal;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * Prices configured on top of the shipped table (settings {@code limits.prices}, {@code limits.image-prices},
 * {@code limits.default-price}), immutable. Amounts are US dollars: per million tokens for models, per image
 * for images. {@link PriceTable#from(PricesConfig)} applies them.
 *
 * @param models token prices by model name; they replace the shipped price of that name
 * @param images per-image prices by {@code model/quality/size}; they replace the shipped price of that key
 * @param defaultPrice the price of a model without one, for policies that charge it; empty: none
 */
public record PricesConfig(
        Map<String, PriceTable.ModelPrice> models,
        Map<String, BigDecimal> images,
        Optional<PriceTable.ModelPrice> defaultPrice) {
    /** No overrides, no default price. */
    public static final PricesConfig DEFAULTS = new PricesConfig(Map.of(), Map.of(), Optional.empty());

    /** The largest price accepted, in dollars (per million tokens, or per image): a guard against typos. */
    static final BigDecimal MAX_PRICE = new BigDecimal(1_000_000);

    public PricesConfig {
        models = Map.copyOf(models);
        images = Map.copyOf(images);
        Objects.requireNonNull(defaultPrice, "defaultPrice");
    }

    /** This configuration with these model prices ({@code limits.prices}). */
    public PricesConfig withModels(Map<String, PriceTable.ModelPrice> models) {
        return new PricesConfig(models, images, defaultPrice);
    }

    /** This configuration with these image prices ({@code limits.image-prices}). */
    public PricesConfig withImages(Map<String, BigDecimal> images) {
        return new PricesConfig(models, images, defaultPrice);
    }

    /** This configuration with this default price ({@code limits.default-price}); {@code null}: none. */
    public PricesConfig withDefaultPrice(PriceTable.ModelPrice price) {
        return new PricesConfig(models, images, Optional.ofNullable(price));
    }

    /**
     * Parses {@code limits.prices}: entries {@code model=input/cached/output}, dollars per million tokens.
     *
     * @throws IllegalArgumentException naming the entry that is not of that form
     */
    public static Map<String, PriceTable.ModelPrice> parseModelPrices(List<String> entries) {
        Map<String, PriceTable.ModelPrice> out = new LinkedHashMap<>();
        for (String entry : entries) {
            int eq = entry.indexOf('=');
            if (eq < 1) {
                throw new IllegalArgumentException("expected model=input/cached/output, got '" + entry + "'");
            }
            String model = modelName(entry.substring(0, eq));
            if (out.put(model, parseModelPrice(entry.substring(eq + 1))) != null) {
                throw new IllegalArgumentException("model " + model + " priced twice");
            }
        }
        return out;
    }

    /**
     * Parses {@code limits.image-prices}: entries {@code model/quality/size=dollars} per image (for example
     * {@code dall-e-3/hd/1024x1792=0.12}).
     */
    public static Map<String, BigDecimal> parseImagePrices(List<String> entries) {
        Map<String, BigDecimal> out = new LinkedHashMap<>();
        for (String entry : entries) {
            int eq = entry.indexOf('=');
            String[] key = eq < 1 ? new String[0] : entry.substring(0, eq).split("/", -1);
            if (key.length != 3) {
                throw new IllegalArgumentException("expected model/quality/size=dollars, got '" + entry + "'");
            }
            String k = PriceTable.imageKey(modelName(key[0]), name(key[1], "quality"), name(key[2], "size"));
            if (out.put(k, amount(entry.substring(eq + 1))) != null) {
                throw new IllegalArgumentException("image " + k + " priced twice");
            }
        }
        return out;
    }

    /** Parses {@code input/cached/output}, dollars per million tokens. */
    public static PriceTable.ModelPrice parseModelPrice(String text) {
        String[] p = text.strip().split("/", -1);
        if (p.length != 3) {
            throw new IllegalArgumentException(
                    "expected input/cached/output dollars per million tokens, got '" + text.strip() + "'");
        }
        return new PriceTable.ModelPrice(amount(p[0]), amount(p[1]), amount(p[2]));
    }

    private static String modelName(String text) {
        return name(text, "model");
    }

    private static String name(String text, String what) {
        String s = text.strip().toLowerCase(Locale.ROOT);
        if (s.isEmpty() || s.length() > 128) {
            throw new IllegalArgumentException("empty or overlong " + what + " name");
        }
        return s;
    }

    private static BigDecimal amount(String text) {
        BigDecimal d;
        try {
            d = new BigDecimal(text.strip());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("'" + text.strip() + "' is not an amount of dollars");
        }
        if (d.signum() < 0 || d.compareTo(MAX_PRICE) > 0) {
            throw new IllegalArgumentException("'" + text.strip() + "' is not between 0 and " + MAX_PRICE + " dollars");
        }
        if (d.stripTrailingZeros().scale() > 9) {
            throw new IllegalArgumentException("'" + text.strip() + "' has more than 9 decimal places");
        }
        return d;
    }
}
