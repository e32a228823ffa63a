package io.github.openaiproxy.core.config;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.cors.CorsConfig;
import io.github.openaiproxy.core.normalize.ChatDefaults;
import io.github.openaiproxy.core.normalize.ImageDefaults;
import io.github.openaiproxy.core.route.PassThroughRoute;
import io.github.openaiproxy.core.session.SessionConfig;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import java.math.BigDecimal;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * Reads a {@link ProxyConfig} from flat text settings: servlet init parameters, environment variables,
 * system properties. The keys are those of the Spring Boot properties without their
 * {@code openai.proxy.} prefix ({@code api-key}, {@code base-url}, {@code cors.allowed-origins}, ...),
 * so there is one vocabulary everywhere. Unset keys keep core's defaults; a malformed value fails with
 * a message naming the key.
 */
public final class ProxySettings {
    private final Function<String, String> lookup;

    private ProxySettings(Function<String, String> lookup) {
        this.lookup = lookup;
    }

    /** Settings from a key lookup; {@code null} or blank means unset. */
    public static ProxySettings from(Function<String, String> lookup) {
        return new ProxySettings(lookup);
    }

    /** Settings from a map of keys. */
    public static ProxySettings from(Map<String, String> settings) {
        return new ProxySettings(settings::get);
    }

    /**
     * Settings from environment variables: {@code OPENAI_API_KEY}, {@code OPENAI_BASE_URL},
     * {@code OPENAI_ORG_ID}, {@code OPENAI_PROJECT_ID} (the names the OpenAI SDKs read), and
     * {@code OPENAI_PROXY_<KEY>} for every other key, for example {@code OPENAI_PROXY_ALLOWED_ORIGINS},
     * {@code OPENAI_PROXY_ALLOW_CLIENT_KEY}, {@code OPENAI_PROXY_CHAT_MODEL},
     * {@code OPENAI_PROXY_CORS_MAX_AGE}.
     */
    public static ProxySettings fromEnvironment(Map<String, String> env) {
        return new ProxySettings(key -> env.get(environmentName(key)));
    }

    /** The environment variable that carries a key. */
    public static String environmentName(String key) {
        return switch (key) {
            case "api-key" -> "OPENAI_API_KEY";
            case "base-url" -> "OPENAI_BASE_URL";
            case "organization" -> "OPENAI_ORG_ID";
            case "project" -> "OPENAI_PROJECT_ID";
            case "cors.allowed-origins" -> "OPENAI_PROXY_ALLOWED_ORIGINS";
            default -> "OPENAI_PROXY_" + key.replace('.', '_').replace('-', '_').toUpperCase(Locale.ROOT);
        };
    }

    /**
     * Every key of the shared vocabulary: those this class reads, plus {@code sessions.store} and
     * {@code sessions.retention}, which the servers that build the session store read.
     */
    public static final List<String> KEYS = List.of(
            "api-key",
            "base-url",
            "organization",
            "project",
            "connect-timeout",
            "response-timeout",
            "upstream-client",
            "path",
            "allow-client-key",
            "max-body-size",
            "max-event-size",
            "pass-through-routes",
            "allowed-hosts",
            "cors.allowed-origins",
            "cors.allowed-origin-patterns",
            "cors.allowed-headers",
            "cors.exposed-headers",
            "cors.max-age",
            "cors.allow-credentials",
            "chat.model",
            "chat.temperature",
            "chat.max-tokens",
            "chat.stream",
            "image.model",
            "image.n",
            "image.size",
            "image.quality",
            "image.style",
            "image.response-format",
            "sessions.enabled",
            "sessions.history-as-context",
            "sessions.context-messages",
            "sessions.max-message-size",
            "sessions.max-session-size",
            "sessions.max-page-size",
            "sessions.queue-size",
            "stream-idle-timeout",
            "limits.max-concurrent-upstream-calls",
            "limits.max-concurrent-upstream-calls-per-client",
            // Read by the servers that build the store (standalone, Spring starter), not by this class.
            "sessions.store",
            "sessions.retention");

    /** Applies the settings onto a builder (unset keys leave it unchanged). */
    public ProxyConfig.Builder applyTo(ProxyConfig.Builder b) {
        ProxyConfig base = b.build();
        text("api-key", b::apiKey);
        text("path", b::path);
        bool("allow-client-key", b::allowClientKey);
        size("max-body-size", b::maxBodySize);
        size("max-event-size", v -> b.maxEventSize(Math.toIntExact(v)));
        list("allowed-hosts", b::allowedHosts);
        list(
                "pass-through-routes",
                v -> b.passThroughRoutes(v.stream().map(PassThroughRoute::parse).toList()));

        UpstreamConfig up = base.upstream();
        up = with(up, "base-url", (u, v) -> u.withBaseUrl(UpstreamConfig.parseBaseUrl(v)));
        up = with(up, "organization", UpstreamConfig::withOrganization);
        up = with(up, "project", UpstreamConfig::withProject);
        up = with(up, "connect-timeout", (u, v) -> u.withConnectTimeout(duration("connect-timeout", v)));
        up = with(up, "response-timeout", (u, v) -> u.withResponseTimeout(duration("response-timeout", v)));
        up = with(up, "upstream-client", (u, v) -> u.withClient(UpstreamConfig.ClientKind.parse(v)));
        up = with(up, "stream-idle-timeout", (u, v) -> u.withStreamIdleTimeout(duration("stream-idle-timeout", v)));
        b.upstream(up);

        // Concurrency caps on upstream calls: 0 means none.
        text(
                "limits.max-concurrent-upstream-calls",
                v -> b.maxConcurrentUpstreamCalls(integer("limits.max-concurrent-upstream-calls", v)));
        text(
                "limits.max-concurrent-upstream-calls-per-client",
                v -> b.maxConcurrentUpstreamCallsPerClient(
                        integer("limits.max-concurrent-upstream-calls-per-client", v)));

        CorsConfig.Builder cors = base.cors().toBuilder();
        // One list may mix exact origins and patterns; the builder sorts them.
        list("cors.allowed-origins", v -> {
            CorsConfig sorted = CorsConfig.builder().origins(v).build();
            cors.allowedOrigins(sorted.allowedOrigins());
            if (!sorted.allowedOriginPatterns().isEmpty()) {
                cors.allowedOriginPatterns(sorted.allowedOriginPatterns());
            }
        });
        list("cors.allowed-origin-patterns", cors::allowedOriginPatterns);
        list("cors.allowed-headers", cors::allowedHeaders);
        list("cors.exposed-headers", cors::exposedHeaders);
        text("cors.max-age", v -> cors.maxAge(duration("cors.max-age", v)));
        bool("cors.allow-credentials", cors::allowCredentials);
        b.cors(guard("cors", cors::build));

        ChatDefaults chat = base.chatDefaults();
        chat = with(chat, "chat.model", ChatDefaults::withModel);
        chat = with(chat, "chat.temperature", (c, v) -> c.withTemperature(decimal("chat.temperature", v)));
        chat = with(chat, "chat.max-tokens", (c, v) -> c.withMaxTokens(integer("chat.max-tokens", v)));
        chat = with(chat, "chat.stream", (c, v) -> c.withStream(parseBoolean("chat.stream", v)));
        b.chatDefaults(chat);

        ImageDefaults image = base.imageDefaults();
        image = with(image, "image.model", ImageDefaults::withModel);
        image = with(image, "image.n", (i, v) -> i.withN(integer("image.n", v)));
        image = with(image, "image.size", ImageDefaults::withSize);
        image = with(image, "image.quality", ImageDefaults::withQuality);
        image = with(image, "image.style", ImageDefaults::withStyle);
        image = with(image, "image.response-format", ImageDefaults::withResponseFormat);
        b.imageDefaults(image);

        SessionConfig sessions = base.sessions();
        sessions = with(sessions, "sessions.enabled", (c, v) -> c.withEnabled(parseBoolean("sessions.enabled", v)));
        sessions = with(
                sessions,
                "sessions.history-as-context",
                (c, v) -> c.withHistoryAsContext(parseBoolean("sessions.history-as-context", v)));
        sessions = with(
                sessions,
                "sessions.context-messages",
                (c, v) -> c.withContextMessages(integer("sessions.context-messages", v)));
        sessions = with(
                sessions,
                "sessions.max-message-size",
                (c, v) -> c.withMaxMessageSize(intSize("sessions.max-message-size", v)));
        sessions = with(
                sessions,
                "sessions.max-session-size",
                (c, v) -> c.withMaxSessionSize(parseSize("sessions.max-session-size", v)));
        sessions = with(
                sessions, "sessions.max-page-size", (c, v) -> c.withMaxPageSize(intSize("sessions.max-page-size", v)));
        sessions = with(sessions, "sessions.queue-size", (c, v) -> c.withQueueSize(integer("sessions.queue-size", v)));
        b.sessions(sessions);
        return b;
    }

    /** A configuration from core's defaults plus these settings. */
    public ProxyConfig toConfig() {
        return applyTo(ProxyConfig.builder()).build();
    }

    private String get(String key) {
        String v = lookup.apply(key);
        return v == null || v.isBlank() ? null : v.strip();
    }

    private void text(String key, java.util.function.Consumer<String> sink) {
        String v = get(key);
        if (v != null) {
            guardRun(key, () -> sink.accept(v));
        }
    }

    private void bool(String key, java.util.function.Consumer<Boolean> sink) {
        text(key, v -> sink.accept(parseBoolean(key, v)));
    }

    private void size(String key, java.util.function.LongConsumer sink) {
        text(key, v -> sink.accept(parseSize(key, v)));
    }

    private void list(String key, java.util.function.Consumer<List<String>> sink) {
        text(
                key,
                v -> sink.accept(Arrays.stream(v.split(","))
                        .map(String::strip)
                        .filter(s -> !s.isEmpty())
                        .toList()));
    }

    private <T> T with(T current, String key, java.util.function.BiFunction<T, String, T> apply) {
        String v = get(key);
        return v == null ? current : guard(key, () -> apply.apply(current, v));
    }

    private static <T> T guard(String key, Supplier<T> s) {
        try {
            return s.get();
        } catch (IllegalArgumentException e) {
            throw named(key, e);
        }
    }

    private static void guardRun(String key, Runnable r) {
        try {
            r.run();
        } catch (IllegalArgumentException e) {
            throw named(key, e);
        }
    }

    private static IllegalArgumentException named(String key, IllegalArgumentException e) {
        String m = e.getMessage() == null ? "" : e.getMessage();
        return m.startsWith("Invalid setting")
                ? e
                : new IllegalArgumentException("Invalid setting '" + key + "': " + m, e);
    }

    /** Parses {@code true/yes/on/1} or {@code false/no/off/0}; a message naming {@code key} otherwise. */
    public static boolean parseBoolean(String key, String v) {
        return switch (v.toLowerCase(Locale.ROOT)) {
            case "true", "yes", "on", "1" -> true;
            case "false", "no", "off", "0" -> false;
            default ->
                throw new IllegalArgumentException("Invalid setting '" + key + "': expected true or false, got " + v);
        };
    }

    /** Parses an integer; a message naming {@code key} otherwise. */
    public static int integer(String key, String v) {
        try {
            return Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("Invalid setting '" + key + "': expected an integer, got " + v);
        }
    }

    static BigDecimal decimal(String key, String v) {
        try {
            return new BigDecimal(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("Invalid setting '" + key + "': expected a number, got " + v);
        }
    }

    /**
     * Parses {@code 30s}, {@code 500ms}, {@code 10m}, {@code 1h}, {@code 30d}, ISO-8601 ({@code PT30S}) or
     * plain seconds.
     */
    public static Duration duration(String key, String v) {
        String s = v.strip().toLowerCase(Locale.ROOT);
        try {
            if (s.startsWith("pt") || s.startsWith("p")) {
                return Duration.parse(v.strip().toUpperCase(Locale.ROOT));
            }
            if (s.endsWith("ms")) {
                return Duration.ofMillis(
                        Long.parseLong(s.substring(0, s.length() - 2).strip()));
            }
            if (s.endsWith("s")) {
                return Duration.ofSeconds(
                        Long.parseLong(s.substring(0, s.length() - 1).strip()));
            }
            if (s.endsWith("m")) {
                return Duration.ofMinutes(
                        Long.parseLong(s.substring(0, s.length() - 1).strip()));
            }
            if (s.endsWith("h")) {
                return Duration.ofHours(
                        Long.parseLong(s.substring(0, s.length() - 1).strip()));
            }
            if (s.endsWith("d")) {
                return Duration.ofDays(
                        Long.parseLong(s.substring(0, s.length() - 1).strip()));
            }
            return Duration.ofSeconds(Long.parseLong(s));
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(
                    "Invalid setting '" + key + "': expected a duration such as 30s, 500ms or PT30S, got " + v);
        }
    }

    private static int intSize(String key, String v) {
        long n = parseSize(key, v);
        if (n > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("Invalid setting '" + key + "': at most 2GB, got " + v);
        }
        return (int) n;
    }

    /** Parses {@code 10MB}, {@code 512KB}, {@code 10MiB} (binary units, as Spring's DataSize) or plain bytes. */
    public static long parseSize(String key, String v) {
        String s = v.strip().toUpperCase(Locale.ROOT).replace("IB", "B");
        long unit = 1;
        if (s.endsWith("KB")) {
            unit = 1024L;
        } else if (s.endsWith("MB")) {
            unit = 1024L * 1024;
        } else if (s.endsWith("GB")) {
            unit = 1024L * 1024 * 1024;
        }
        String digits =
                unit == 1 ? (s.endsWith("B") ? s.substring(0, s.length() - 1) : s) : s.substring(0, s.length() - 2);
        try {
            long n = Long.parseLong(digits.strip());
            if (n < 1) {
                throw new NumberFormatException();
            }
            return Math.multiplyExact(n, unit);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(
                    "Invalid setting '" + key + "': expected a positive size such as 10MB or 1048576, got " + v);
        }
    }
}
