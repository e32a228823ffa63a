package io.github.openaiproxy.core.access;

import java.math.BigDecimal;
import java.util.List;
import java.util.Objects;

/**
 * A named set of rules for a caller: which routes and models it may use, caps on what it may ask for, and the
 * quotas the quota step enforces. Configured as {@code policies.<name>.<rule>}; the default policies are
 * {@value #KEYS}, {@value #USERS} and {@value #ANONYMOUS}. An empty list allows everything; a {@code null}
 * number means no limit.
 *
 * @param name the policy's name
 * @param routes the routes allowed (rule {@code routes}); empty for all
 * @param models the models allowed, exact names or globs with {@code *} (rule {@code models}); empty for all
 * @param maxTokens the cap on {@code max_tokens} / {@code max_completion_tokens} (rule {@code max-tokens})
 * @param maxN the cap on {@code n} (rule {@code max-n})
 * @param overCap what a request over a cap gets (rule {@code over-cap})
 * @param imageModels the image models allowed (rule {@code image-models}); empty for all
 * @param imageSizes the image sizes allowed (rule {@code image-sizes}); empty for all
 * @param imageQualities the image qualities allowed (rule {@code image-qualities}); empty for all
 * @param quotas the quota numbers
 */
public record Policy(
        String name,
        List<String> routes,
        List<String> models,
        Integer maxTokens,
        Integer maxN,
        OverCap overCap,
        List<String> imageModels,
        List<String> imageSizes,
        List<String> imageQualities,
        Quotas quotas) {
    /** The default policy of proxy keys. */
    public static final String KEYS = "keys";
    /** The default policy of the host application's users and of JWT subjects. */
    public static final String USERS = "users";
    /** The policy of anonymous callers. */
    public static final String ANONYMOUS = "anonymous";

    /** What a request over a cap gets. */
    public enum OverCap {
        /** The value is lowered to the cap (an absent {@code max_tokens} gets the cap). */
        CLAMP,
        /** 400; nothing reaches the upstream. */
        REFUSE
    }

    public Policy {
        Objects.requireNonNull(name, "name");
        routes = List.copyOf(routes);
        models = List.copyOf(models);
        Objects.requireNonNull(overCap, "overCap");
        imageModels = List.copyOf(imageModels);
        imageSizes = List.copyOf(imageSizes);
        imageQualities = List.copyOf(imageQualities);
        Objects.requireNonNull(quotas, "quotas");
    }

    /** A policy that allows everything. */
    public static Policy unrestricted(String name) {
        return new Policy(
                name, List.of(), List.of(), null, null, OverCap.CLAMP, List.of(), List.of(), List.of(), Quotas.NONE);
    }

    /**
     * The quota numbers of a policy, enforced per identity; {@code null} for no limit. Money is in US dollars.
     *
     * @param requestsPerMinute rule {@code requests-per-minute}
     * @param requestsPerHour rule {@code requests-per-hour}
     * @param requestsPerDay rule {@code requests-per-day}
     * @param tokensPerMinute rule {@code tokens-per-minute}
     * @param tokensPerDay rule {@code tokens-per-day}
     * @param tokensPerMonth rule {@code tokens-per-month}
     * @param concurrentRequests rule {@code concurrent-requests}
     * @param costPerDay rule {@code cost-per-day}
     * @param costPerMonth rule {@code cost-per-month}
     * @param unpriced what a request for a model without a price gets when a cost budget applies (rule
     *     {@code unpriced}); {@code null} reads as {@link Unpriced#REFUSE}
     */
    public record Quotas(
            Long requestsPerMinute,
            Long requestsPerHour,
            Long requestsPerDay,
            Long tokensPerMinute,
            Long tokensPerDay,
            Long tokensPerMonth,
            Long concurrentRequests,
            BigDecimal costPerDay,
            BigDecimal costPerMonth,
            Unpriced unpriced) {
        /** No quota at all. */
        public static final Quotas NONE = new Quotas(null, null, null, null, null, null, null, null, null);

        public Quotas {
            unpriced = unpriced == null ? Unpriced.REFUSE : unpriced;
        }

        /** The quotas with {@code unpriced} refusing (the default). */
        public Quotas(
                Long requestsPerMinute,
                Long requestsPerHour,
                Long requestsPerDay,
                Long tokensPerMinute,
                Long tokensPerDay,
                Long tokensPerMonth,
                Long concurrentRequests,
                BigDecimal costPerDay,
                BigDecimal costPerMonth) {
            this(
                    requestsPerMinute,
                    requestsPerHour,
                    requestsPerDay,
                    tokensPerMinute,
                    tokensPerDay,
                    tokensPerMonth,
                    concurrentRequests,
                    costPerDay,
                    costPerMonth,
                    Unpriced.REFUSE);
        }

        /** Whether any quota is set (the limit step has nothing to count otherwise). */
        public boolean any() {
            return requestsPerMinute != null
                    || requestsPerHour != null
                    || requestsPerDay != null
                    || tokensPerMinute != null
                    || tokensPerDay != null
                    || tokensPerMonth != null
                    || concurrentRequests != null
                    || costPerDay != null
                    || costPerMonth != null;
        }
    }

    /** What a request for a model the price table does not know gets when a cost budget applies. */
    public enum Unpriced {
        /** 403 {@code model_not_priced}; nothing reaches the upstream. */
        REFUSE,
        /** Charged at {@code limits.default-price}. */
        DEFAULT
    }
}
