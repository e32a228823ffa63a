package io.github.openaiproxy.core.config;

import io.github.openaiproxy.core.access.AccessConfig;
import io.github.openaiproxy.core.access.Policy;
import java.math.BigDecimal;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The policy settings: {@code policies.<name>.<rule>}, one family of keys per rule, and
 * {@code access.role-policies}. Bound onto {@link AccessConfig#policies()} and
 * {@link AccessConfig#rolePolicies()}; a rule set by a later source (init parameters after the environment)
 * replaces that rule only.
 */
final class PolicySettings {
    static final String PREFIX = "policies.";
    private static final String T = PREFIX + Setting.NAME + ".";
    private static final Pattern ROUTE_NAME = Pattern.compile("[a-z][a-z0-9-]*");

    /** The settings, in documentation order. */
    static final List<Setting> SETTINGS = List.of(
            Setting.of(
                    "access.role-policies",
                    Setting.Type.LIST,
                    null,
                    "The host application's roles mapped to policies, each 'role=policy', in order: a user gets the"
                            + " first policy whose role it has, else 'users'."),
            Setting.of(
                    T + "routes",
                    Setting.Type.LIST,
                    null,
                    "The routes a policy allows, by name (chat, images, responses, embeddings, models, sessions,"
                            + " graphql, ...) or path template; unset: all."),
            Setting.of(
                    T + "models",
                    Setting.Type.LIST,
                    null,
                    "The models a policy allows (all but image requests), exact names or globs such as gpt-4o*;"
                            + " unset: all."),
            Setting.of(
                    T + "max-tokens",
                    Setting.Type.INT,
                    null,
                    "The cap on max_tokens / max_completion_tokens / max_output_tokens; an absent one gets the cap."),
            Setting.of(T + "max-n", Setting.Type.INT, null, "The cap on n (choices or images)."),
            Setting.oneOf(
                    T + "over-cap",
                    "clamp",
                    "What a request over a cap gets: clamp (the value is lowered) or refuse (400).",
                    "clamp",
                    "refuse"),
            Setting.of(
                    T + "image-models",
                    Setting.Type.LIST,
                    null,
                    "The image models a policy allows, exact names or globs; unset: all."),
            Setting.of(
                    T + "image-sizes",
                    Setting.Type.LIST,
                    null,
                    "The image sizes a policy allows; others are refused (400); unset: all."),
            Setting.of(
                    T + "image-qualities",
                    Setting.Type.LIST,
                    null,
                    "The image qualities a policy allows; others are refused (400); unset: all."),
            Setting.of(T + "requests-per-minute", Setting.Type.LONG, null, "Quota: requests per minute."),
            Setting.of(T + "requests-per-hour", Setting.Type.LONG, null, "Quota: requests per hour."),
            Setting.of(T + "requests-per-day", Setting.Type.LONG, null, "Quota: requests per day."),
            Setting.of(T + "tokens-per-minute", Setting.Type.LONG, null, "Quota: tokens per minute."),
            Setting.of(T + "tokens-per-day", Setting.Type.LONG, null, "Quota: tokens per day."),
            Setting.of(T + "tokens-per-month", Setting.Type.LONG, null, "Quota: tokens per month."),
            Setting.of(T + "concurrent-requests", Setting.Type.LONG, null, "Quota: requests in flight at once."),
            Setting.of(T + "cost-per-day", Setting.Type.DECIMAL, null, "Quota: US dollars per day."),
            Setting.of(T + "cost-per-month", Setting.Type.DECIMAL, null, "Quota: US dollars per month."),
            Setting.oneOf(
                    T + "unpriced",
                    "refuse",
                    "A model without a price under a cost budget: refuse (403 model_not_priced) or default"
                            + " (charged at limits.default-price).",
                    "refuse",
                    "default"));

    private PolicySettings() {}

    /** The access configuration with the policies and role mapping the binder's source sets. */
    static AccessConfig apply(SettingsBinder binder, AccessConfig access) {
        List<String> unknown = binder.unknownKeys(PREFIX);
        if (!unknown.isEmpty()) {
            throw binder.unknown(unknown.get(0), "no such policy rule; the rules are " + rules());
        }
        AccessConfig out = access;
        if (binder.isSet("access.role-policies")) {
            out = out.withRolePolicies(rolePolicies(binder));
        }
        Map<String, Policy> policies = new LinkedHashMap<>(out.policies());
        for (String name : binder.names(PREFIX)) {
            Policy current = policies.getOrDefault(name, Policy.unrestricted(name));
            policies.put(name, policy(binder, name, current));
        }
        return policies.equals(out.policies()) ? out : out.withPolicies(policies);
    }

    private static Map<String, String> rolePolicies(SettingsBinder binder) {
        Map<String, String> map = new LinkedHashMap<>();
        List<String> entries = binder.value("access.role-policies");
        for (String entry : entries) {
            int eq = entry.indexOf('=');
            String role = eq < 0 ? "" : entry.substring(0, eq).strip();
            String policy = eq < 0 ? "" : entry.substring(eq + 1).strip();
            if (role.isEmpty() || !Setting.isValidName(policy)) {
                throw binder.invalid(
                        "access.role-policies",
                        "expected role=policy entries, a policy name being lower-case letters, digits and '-'");
            }
            map.putIfAbsent(role, policy);
        }
        return map;
    }

    private static Policy policy(SettingsBinder binder, String name, Policy p) {
        if (!Setting.isValidName(name)) {
            String key = SETTINGS.stream()
                    .filter(Setting::isTemplate)
                    .map(s -> s.named(name).key())
                    .filter(binder::isSet)
                    .findFirst()
                    .orElse(PREFIX + name);
            throw binder.invalid(key, "a policy name is lower-case letters, digits and '-'");
        }
        List<String> routes = rule(binder, name, "routes", p.routes());
        for (String r : routes) {
            if (!r.startsWith("/") && !ROUTE_NAME.matcher(r).matches()) {
                throw binder.invalid(
                        key(name, "routes"),
                        "a route is a name such as chat or images, or a path template such as /v1/models/{id}");
            }
        }
        Integer maxTokens = atLeastOne(binder, name, "max-tokens", p.maxTokens());
        Integer maxN = atLeastOne(binder, name, "max-n", p.maxN());
        String overCap = binder.isSet(key(name, "over-cap")) ? binder.value(key(name, "over-cap")) : null;
        Policy.Quotas q = p.quotas();
        Policy.Quotas quotas = new Policy.Quotas(
                count(binder, name, "requests-per-minute", q.requestsPerMinute()),
                count(binder, name, "requests-per-hour", q.requestsPerHour()),
                count(binder, name, "requests-per-day", q.requestsPerDay()),
                count(binder, name, "tokens-per-minute", q.tokensPerMinute()),
                count(binder, name, "tokens-per-day", q.tokensPerDay()),
                count(binder, name, "tokens-per-month", q.tokensPerMonth()),
                count(binder, name, "concurrent-requests", q.concurrentRequests()),
                money(binder, name, "cost-per-day", q.costPerDay()),
                money(binder, name, "cost-per-month", q.costPerMonth()),
                binder.isSet(key(name, "unpriced"))
                        ? Policy.Unpriced.valueOf(
                                binder.<String>value(key(name, "unpriced")).toUpperCase(Locale.ROOT))
                        : q.unpriced());
        return new Policy(
                name,
                routes,
                rule(binder, name, "models", p.models()),
                maxTokens,
                maxN,
                overCap == null ? p.overCap() : Policy.OverCap.valueOf(overCap.toUpperCase(Locale.ROOT)),
                rule(binder, name, "image-models", p.imageModels()),
                rule(binder, name, "image-sizes", p.imageSizes()),
                rule(binder, name, "image-qualities", p.imageQualities()),
                quotas);
    }

    private static String key(String name, String rule) {
        return PREFIX + name + "." + rule;
    }

    private static <V> V rule(SettingsBinder binder, String name, String rule, V current) {
        String key = key(name, rule);
        return binder.isSet(key) ? binder.value(key) : current;
    }

    private static Integer atLeastOne(SettingsBinder binder, String name, String rule, Integer current) {
        Integer v = rule(binder, name, rule, current);
        if (v != null && v < 1 && v != current) {
            throw binder.invalid(key(name, rule), "must be at least 1");
        }
        return v;
    }

    private static Long count(SettingsBinder binder, String name, String rule, Long current) {
        Long v = rule(binder, name, rule, current);
        if (v != null && v < 0 && v != current) {
            throw binder.invalid(key(name, rule), "must not be negative");
        }
        return v;
    }

    private static BigDecimal money(SettingsBinder binder, String name, String rule, BigDecimal current) {
        BigDecimal v = rule(binder, name, rule, current);
        if (v != null && v.signum() < 0 && v != current) {
            throw binder.invalid(key(name, rule), "must not be negative");
        }
        return v;
    }

    private static String rules() {
        return String.join(
                ", ",
                SETTINGS.stream()
                        .filter(Setting::isTemplate)
                        .map(s -> s.key().substring(T.length()))
                        .toList());
    }
}
