package io.github.openaiproxy.core.upstream;

import io.github.openaiproxy.core.internal.Glob;
import java.net.URI;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * One upstream of {@code upstreams.<name>.*}: a provider the proxy may call, its keys, the models it serves
 * and where to go when it fails. Immutable; {@link #toString()} never shows a key.
 *
 * @param name the configured name, lower-case letters, digits and {@code -}; the only thing about an upstream a
 *     client is ever told
 * @param kind the provider's wire format
 * @param baseUrl the API root; for {@link Kind#OPENAI} default {@code https://api.openai.com}
 * @param keys the API keys, at least one when set; empty only for a {@link Kind#COMPATIBLE} server without auth
 * @param models the client model names served, exact names or globs ({@code gpt-4o*}); an alias's client name
 *     is served too
 * @param aliases client model name to upstream model name (for Azure, the deployment), in configuration order
 * @param apiVersion the {@code api-version} query of {@link Kind#AZURE}
 * @param fallback where a request goes, in order, once this upstream has failed it
 * @param retry how this upstream's failures are retried
 * @param contextFallback where a request goes, once, when this upstream answers 400 with OpenAI's
 *     {@code context_length_exceeded}: a model with a larger window, on this upstream or another; empty: the 400
 *     is relayed
 * @param connection how this upstream is called: extra headers, timeouts, OpenAI's organization and project, a
 *     compatible server's auth style, Azure's API form
 */
public record NamedUpstream(
        String name,
        Kind kind,
        URI baseUrl,
        List<String> keys,
        List<String> models,
        Map<String, String> aliases,
        Optional<String> apiVersion,
        List<Fallback> fallback,
        Retry retry,
        Optional<Fallback> contextFallback,
        UpstreamConnection connection) {

    /** The first Azure api-version that accepts {@code stream_options} (earlier ones refuse the request). */
    static final String AZURE_STREAM_OPTIONS_SINCE = "2024-09-01";

    /** The key prefix of every upstream setting. */
    public static final String PREFIX = "upstreams.";

    /** How long a key rests after a 429 that says nothing of when to come back. */
    public static final java.time.Duration DEFAULT_KEY_COOLDOWN = java.time.Duration.ofSeconds(10);

    /**
     * How an upstream's failures are retried, before the first byte of an answer only.
     *
     * @param retries the retries on this upstream (so {@code retries + 1} attempts) before its fallbacks; default 2
     * @param statuses the statuses retried (besides connection failures and timeouts before the headers); only
     *     429 and 5xx may be listed; default 429, 500, 502, 503, 504
     * @param keyCooldown how long a key rests after a 429 without {@code retry-after-ms} / {@code Retry-After};
     *     default 10 seconds
     * @param deadline the longest a request may spend on retries and fallbacks, waits included; default 30 s
     * @param breakerFailures the failures in a row (those retried) that open this upstream's circuit; 0: no
     *     breaker; default 5
     * @param breakerOpen how long an open circuit skips the upstream before one trial request; default 30 s
     */
    public record Retry(
            int retries,
            java.util.Set<Integer> statuses,
            java.time.Duration keyCooldown,
            java.time.Duration deadline,
            int breakerFailures,
            java.time.Duration breakerOpen) {
        /** The failures in a row that open a circuit by default. */
        public static final int DEFAULT_BREAKER_FAILURES = 5;

        /** How long a circuit stays open by default. */
        public static final java.time.Duration DEFAULT_BREAKER_OPEN = java.time.Duration.ofSeconds(30);

        /** The defaults. */
        public static final Retry DEFAULTS = new Retry(
                2, java.util.Set.of(429, 500, 502, 503, 504), DEFAULT_KEY_COOLDOWN, java.time.Duration.ofSeconds(30));

        public Retry {
            statuses = java.util.Set.copyOf(statuses);
            java.util.Objects.requireNonNull(keyCooldown, "keyCooldown");
            java.util.Objects.requireNonNull(deadline, "deadline");
            java.util.Objects.requireNonNull(breakerOpen, "breakerOpen");
        }

        /** As the canonical constructor, with the default breaker. */
        public Retry(
                int retries,
                java.util.Set<Integer> statuses,
                java.time.Duration keyCooldown,
                java.time.Duration deadline) {
            this(retries, statuses, keyCooldown, deadline, DEFAULT_BREAKER_FAILURES, DEFAULT_BREAKER_OPEN);
        }
    }

    private static final Pattern NAME = Pattern.compile("[a-z0-9][a-z0-9-]*");

    /**
     * Whether a chat request may carry {@code stream_options}: Mistral's API refuses it ({@link
     * UpstreamConfig#refusesStreamOptions}), and Azure's deployments API (400) before
     * api-version {@value #AZURE_STREAM_OPTIONS_SINCE}-preview, so the proxy does not ask such an upstream for a
     * stream's usage.
     */
    public boolean acceptsStreamOptions() {
        if (UpstreamConfig.refusesStreamOptions(baseUrl)) {
            return false;
        }
        if (kind != Kind.AZURE || connection.azureApi() != UpstreamConnection.AzureApi.DEPLOYMENTS) {
            return true;
        }
        String v = apiVersion.orElse(AZURE_STREAM_OPTIONS_SINCE);
        return v.length() < AZURE_STREAM_OPTIONS_SINCE.length()
                || v.substring(0, AZURE_STREAM_OPTIONS_SINCE.length()).compareTo(AZURE_STREAM_OPTIONS_SINCE) >= 0;
    }

    /** An upstream provider's wire format. */
    public enum Kind {
        /** OpenAI's API: {@code Authorization: Bearer}, paths under {@code /v1}. */
        OPENAI,
        /** Azure OpenAI: {@code /openai/deployments/{deployment}/...?api-version=} with an {@code api-key} header. */
        AZURE,
        /** Any OpenAI-compatible server (vLLM, Ollama, LM Studio): bearer key or no auth. */
        COMPATIBLE;

        /** Parses {@code openai}, {@code azure} or {@code compatible}, in any case. */
        public static Kind parse(String text) {
            try {
                return valueOf(text.strip().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("kind must be openai, azure or compatible", e);
            }
        }
    }

    /**
     * One step of a fallback chain: another upstream, with the request's own model or a replacement.
     *
     * @param upstream the name of the upstream to try
     * @param model the model to ask it for instead of the client's; empty: the client's (after that upstream's
     *     aliases)
     */
    public record Fallback(String upstream, Optional<String> model) {
        public Fallback {
            Objects.requireNonNull(upstream, "upstream");
            model = model == null ? Optional.empty() : model.filter(m -> !m.isBlank());
        }

        /** Parses {@code upstream} or {@code upstream:model}; {@code null} when malformed. */
        public static Fallback parse(String text) {
            String t = text.strip();
            int colon = t.indexOf(':');
            String upstream = colon < 0 ? t : t.substring(0, colon).strip();
            String model = colon < 0 ? "" : t.substring(colon + 1).strip();
            if (!NAME.matcher(upstream).matches() || (colon >= 0 && model.isEmpty())) {
                return null;
            }
            return new Fallback(upstream, Optional.of(model));
        }

        @Override
        public String toString() {
            return model.map(m -> upstream + ":" + m).orElse(upstream);
        }
    }

    public NamedUpstream {
        Objects.requireNonNull(name, "name");
        if (!NAME.matcher(name).matches()) {
            throw new UpstreamSettingException(
                    PREFIX + name + ".kind", "an upstream name is lower-case letters, digits and '-'");
        }
        kind = kind == null ? Kind.OPENAI : kind;
        keys = List.copyOf(keys == null ? List.of() : keys);
        models = List.copyOf(models == null ? List.of() : models);
        aliases = aliases == null ? Map.of() : java.util.Collections.unmodifiableMap(new LinkedHashMap<>(aliases));
        apiVersion = apiVersion == null ? Optional.empty() : apiVersion.filter(v -> !v.isBlank());
        fallback = List.copyOf(fallback == null ? List.of() : fallback);
        retry = retry == null ? Retry.DEFAULTS : retry;
        contextFallback = contextFallback == null ? Optional.empty() : contextFallback;
        connection = connection == null ? UpstreamConnection.DEFAULTS : connection;
        connection.check(name, kind, keys);
        if (contextFallback.isPresent() && contextFallback.get().model().isEmpty()) {
            throw new UpstreamSettingException(key(name, "context-fallback"), "expected 'model' or 'upstream:model'");
        }
        if (retry.retries() < 0 || retry.retries() > 10) {
            throw new UpstreamSettingException(key(name, "retries"), "must be 0 to 10");
        }
        for (int status : retry.statuses()) {
            if (status != 429 && (status < 500 || status > 599)) {
                // Another 4xx is the request's fault: sent again it fails again, maybe at a cost.
                throw new UpstreamSettingException(
                        key(name, "retry-statuses"), "only 429 and 5xx statuses may be retried");
            }
        }
        if (retry.keyCooldown().isNegative() || retry.keyCooldown().isZero()) {
            throw new UpstreamSettingException(key(name, "key-cooldown"), "must be positive");
        }
        if (retry.deadline().isNegative() || retry.deadline().isZero()) {
            throw new UpstreamSettingException(key(name, "retry-deadline"), "must be positive");
        }
        if (retry.breakerFailures() < 0) {
            throw new UpstreamSettingException(key(name, "breaker-failures"), "must be 0 (off) or more");
        }
        if (retry.breakerOpen().isNegative() || retry.breakerOpen().isZero()) {
            throw new UpstreamSettingException(key(name, "breaker-open"), "must be positive");
        }
        if (baseUrl == null) {
            if (kind != Kind.OPENAI) {
                throw new UpstreamSettingException(key(name, "base-url"), "required for kind " + kindName(kind));
            }
            baseUrl = UpstreamConfig.DEFAULT_BASE_URL;
        }
        checkBaseUrl(name, baseUrl);
        if (keys.isEmpty() && kind != Kind.COMPATIBLE) {
            throw new UpstreamSettingException(
                    key(name, "keys"), "an upstream of kind " + kindName(kind) + " needs at least one key");
        }
        for (String k : keys) {
            if (k.isBlank() || !k.chars().allMatch(c -> c > 0x20 && c < 0x7f)) {
                // The key itself is never repeated.
                throw new UpstreamSettingException(key(name, "keys"), "a key is printable ASCII without spaces");
            }
        }
        if (kind == Kind.AZURE
                && apiVersion.isEmpty()
                && connection.azureApi() == UpstreamConnection.AzureApi.DEPLOYMENTS) {
            throw new UpstreamSettingException(
                    key(name, "api-version"), "required for kind azure (but with azure-api=v1)");
        }
        if (kind != Kind.AZURE && apiVersion.isPresent()) {
            throw new UpstreamSettingException(key(name, "api-version"), "only for kind azure");
        }
        for (String m : models) {
            if (!Globs.canMatch(m)) {
                throw new UpstreamSettingException(
                        key(name, "models"),
                        "'" + printable(m) + "' can match no model name: names are letters, digits and . _ - : / @ +,"
                                + " and only * is a wildcard");
            }
        }
        for (Map.Entry<String, String> a : aliases.entrySet()) {
            if (a.getKey().isBlank() || a.getValue().isBlank()) {
                throw new UpstreamSettingException(key(name, "aliases"), "expected client-model=upstream-model pairs");
            }
        }
        for (Fallback f : fallback) {
            if (f.upstream().equals(name) && f.model().isEmpty()) {
                throw new UpstreamSettingException(key(name, "fallback"), "an upstream cannot fall back to itself");
            }
        }
    }

    /** As the canonical constructor, with {@link UpstreamConnection#DEFAULTS}. */
    public NamedUpstream(
            String name,
            Kind kind,
            URI baseUrl,
            List<String> keys,
            List<String> models,
            Map<String, String> aliases,
            Optional<String> apiVersion,
            List<Fallback> fallback,
            Retry retry,
            Optional<Fallback> contextFallback) {
        this(name, kind, baseUrl, keys, models, aliases, apiVersion, fallback, retry, contextFallback, null);
    }

    /** As the canonical constructor, without a context-window fallback. */
    public NamedUpstream(
            String name,
            Kind kind,
            URI baseUrl,
            List<String> keys,
            List<String> models,
            Map<String, String> aliases,
            Optional<String> apiVersion,
            List<Fallback> fallback,
            Retry retry) {
        this(name, kind, baseUrl, keys, models, aliases, apiVersion, fallback, retry, Optional.empty());
    }

    /** As the canonical constructor, with {@link Retry#DEFAULTS}. */
    public NamedUpstream(
            String name,
            Kind kind,
            URI baseUrl,
            List<String> keys,
            List<String> models,
            Map<String, String> aliases,
            Optional<String> apiVersion,
            List<Fallback> fallback) {
        this(name, kind, baseUrl, keys, models, aliases, apiVersion, fallback, Retry.DEFAULTS);
    }

    /** The key of one of this upstream's settings, {@code upstreams.<name>.<setting>}. */
    public static String key(String name, String setting) {
        return PREFIX + name + "." + setting;
    }

    /**
     * Parses {@code client-model=upstream-model} pairs; the first pair of a client name wins.
     *
     * @throws UpstreamSettingException naming {@code upstreams.<name>.aliases} when an entry is malformed
     */
    public static Map<String, String> parseAliases(String name, List<String> entries) {
        Map<String, String> map = new LinkedHashMap<>();
        for (String e : entries) {
            Map.Entry<String, String> pair = splitPair(e);
            if (pair.getKey().isEmpty() || pair.getValue().isEmpty()) {
                throw new UpstreamSettingException(key(name, "aliases"), "expected client-model=upstream-model pairs");
            }
            map.putIfAbsent(pair.getKey(), pair.getValue());
        }
        return map;
    }

    /** {@code left=right} split at its first {@code =}, both sides stripped; both empty without an {@code =}. */
    static Map.Entry<String, String> splitPair(String entry) {
        int eq = entry.indexOf('=');
        return eq < 0
                ? Map.entry("", "")
                : Map.entry(
                        entry.substring(0, eq).strip(), entry.substring(eq + 1).strip());
    }

    /**
     * Parses a fallback chain, {@code upstream} or {@code upstream:model} entries.
     *
     * @throws UpstreamSettingException naming {@code upstreams.<name>.fallback} when an entry is malformed
     */
    public static List<Fallback> parseFallback(String name, List<String> entries) {
        List<Fallback> out = new java.util.ArrayList<>();
        for (String e : entries) {
            Fallback f = Fallback.parse(e);
            if (f == null) {
                throw new UpstreamSettingException(
                        key(name, "fallback"), "expected 'upstream' or 'upstream:model' entries");
            }
            out.add(f);
        }
        return out;
    }

    /**
     * Parses {@code upstreams.<name>.context-fallback}: {@code model} (this upstream, another model) or
     * {@code upstream:model}; empty when unset.
     *
     * @throws UpstreamSettingException naming the setting when malformed
     */
    public static Optional<Fallback> parseContextFallback(String name, String text) {
        if (text == null || text.isBlank()) {
            return Optional.empty();
        }
        String t = text.strip();
        Fallback f = t.indexOf(':') < 0 ? new Fallback(name, Optional.of(t)) : Fallback.parse(t);
        if (f == null || f.model().isEmpty() || !f.model().get().chars().allMatch(c -> c > 0x20 && c < 0x7f)) {
            throw new UpstreamSettingException(key(name, "context-fallback"), "expected 'model' or 'upstream:model'");
        }
        return Optional.of(f);
    }

    /** Whether this upstream serves the client model {@code model}: an alias's client name, or a listed name or glob. */
    public boolean serves(String model) {
        return aliases.containsKey(model) || matchesGlob(model);
    }

    /** Whether one of {@link #models()} (names or globs) matches {@code model}. */
    public boolean matchesGlob(String model) {
        for (String m : models) {
            if (Glob.matches(m, model)) {
                return true;
            }
        }
        return false;
    }

    /** The upstream model name for a client model: its alias, else the same name. */
    public String upstreamModel(String clientModel) {
        return aliases.getOrDefault(clientModel, clientModel);
    }

    private static void checkBaseUrl(String name, URI baseUrl) {
        if (!UpstreamConfig.isBaseUrl(baseUrl)) {
            throw new UpstreamSettingException(
                    key(name, "base-url"), "an absolute http(s) URL without query, fragment or user info");
        }
    }

    /** A setting's value for an error message: printable ASCII kept, anything else shown as {@code ?}. */
    private static String printable(String s) {
        StringBuilder b = new StringBuilder(Math.min(s.length(), 64));
        for (int i = 0; i < s.length() && i < 64; i++) {
            char c = s.charAt(i);
            b.append(c >= 0x20 && c < 0x7f ? c : '?');
        }
        return b.toString();
    }

    private static String kindName(Kind kind) {
        return kind.name().toLowerCase(Locale.ROOT);
    }

    /** Never shows a key: only how many there are. */
    @Override
    public String toString() {
        return "NamedUpstream[name=" + name + ", kind=" + kindName(kind) + ", baseUrl=" + baseUrl + ", keys="
                + keys.size() + ", models=" + models + ", aliases=" + aliases + ", apiVersion="
                + apiVersion.orElse("") + ", fallback=" + fallback + ", retry=" + retry
                + contextFallback.map(f -> ", contextFallback=" + f).orElse("") + ", " + connection + "]";
    }
}
