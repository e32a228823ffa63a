package io.github.openaiproxy.spring;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.cors.CorsConfig;
import io.github.openaiproxy.core.normalize.ChatDefaults;
import io.github.openaiproxy.core.normalize.ImageDefaults;
import io.github.openaiproxy.core.route.PassThroughRoute;
import io.github.openaiproxy.core.session.SessionConfig;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BiConsumer;
import java.util.function.BiFunction;
import java.util.function.Consumer;
import org.springframework.boot.context.properties.source.InvalidConfigurationPropertyValueException;

/**
 * Maps {@link OpenAiProxyProperties} onto core's {@link ProxyConfig.Builder}. Core validates; a value it
 * refuses fails with an {@link InvalidConfigurationPropertyValueException} naming the property, which Spring
 * Boot reports at start-up with where the value came from. Each value is checked as soon as it is set, so
 * the property named is the one that made the configuration invalid (for example
 * {@code openai.proxy.cors.allow-credentials} after {@code *} origins).
 */
final class OpenAiProxyPropertiesAdapter {
    private static final String PREFIX = "openai.proxy.";

    private OpenAiProxyPropertiesAdapter() {}

    /** A builder holding the properties; customizers may change it further. */
    static ProxyConfig.Builder toBuilder(OpenAiProxyProperties p) {
        ProxyConfig.Builder b = ProxyConfig.builder();
        b.apiKey(p.getApiKey()); // never validated, never part of a message
        b.allowClientKey(p.isAllowClientKey());
        set(b, "path", p.getPath(), ProxyConfig.Builder::path);
        set(b, "allowed-hosts", list(p.getAllowedHosts()), ProxyConfig.Builder::allowedHosts);
        set(b, "max-body-size", p.getMaxBodySize(), (c, v) -> c.maxBodySize(v.toBytes()));
        set(b, "max-event-size", p.getMaxEventSize(), (c, v) -> c.maxEventSize(Math.toIntExact(v.toBytes())));
        set(
                b,
                "pass-through-routes",
                p.getPassThroughRoutes(),
                (c, v) -> c.passThroughRoutes(
                        v.stream().map(PassThroughRoute::parse).toList()));
        b.upstream(upstream(p));
        b.cors(cors(p.getCors()));
        b.chatDefaults(chat(p.getChat()));
        b.imageDefaults(image(p.getImage()));
        b.sessions(sessions(p.getSessions()));
        set(
                b,
                "limits.max-concurrent-upstream-calls",
                p.getLimits().getMaxConcurrentUpstreamCalls(),
                ProxyConfig.Builder::maxConcurrentUpstreamCalls);
        set(
                b,
                "limits.max-concurrent-upstream-calls-per-client",
                p.getLimits().getMaxConcurrentUpstreamCallsPerClient(),
                ProxyConfig.Builder::maxConcurrentUpstreamCallsPerClient);
        return b;
    }

    private static UpstreamConfig upstream(OpenAiProxyProperties p) {
        UpstreamConfig u = UpstreamConfig.defaults();
        if (p.getBaseUrl() != null && !p.getBaseUrl().isBlank()) { // blank: unset, as in the other sources
            u = with(u, "base-url", p.getBaseUrl(), (c, v) -> c.withBaseUrl(UpstreamConfig.parseBaseUrl(v)));
        }
        u = with(u, "connect-timeout", p.getConnectTimeout(), UpstreamConfig::withConnectTimeout);
        u = with(u, "response-timeout", p.getResponseTimeout(), UpstreamConfig::withResponseTimeout);
        u = with(u, "stream-idle-timeout", p.getStreamIdleTimeout(), UpstreamConfig::withStreamIdleTimeout);
        return u.withOrganization(p.getOrganization())
                .withProject(p.getProject())
                .withClient(p.getUpstreamClient());
    }

    private static CorsConfig cors(OpenAiProxyProperties.Cors p) {
        // One list may mix exact origins and patterns, as in the other configuration sources.
        CorsConfig.Builder b = CorsConfig.builder();
        set(b, "cors.allowed-origins", list(p.getAllowedOrigins()), CorsConfig.Builder::origins);
        List<String> patterns = new ArrayList<>(b.build().allowedOriginPatterns());
        patterns.addAll(list(p.getAllowedOriginPatterns()));
        set(b, "cors.allowed-origin-patterns", patterns, CorsConfig.Builder::allowedOriginPatterns);
        set(b, "cors.allowed-headers", list(p.getAllowedHeaders()), CorsConfig.Builder::allowedHeaders);
        set(b, "cors.exposed-headers", list(p.getExposedHeaders()), CorsConfig.Builder::exposedHeaders);
        set(b, "cors.max-age", p.getMaxAge(), CorsConfig.Builder::maxAge);
        set(b, "cors.allow-credentials", p.isAllowCredentials(), CorsConfig.Builder::allowCredentials);
        return b.build();
    }

    private static ChatDefaults chat(OpenAiProxyProperties.Chat p) {
        ChatDefaults c = ChatDefaults.SEED;
        c = with(c, "chat.model", p.getModel(), ChatDefaults::withModel);
        c = with(c, "chat.temperature", p.getTemperature(), ChatDefaults::withTemperature);
        c = with(c, "chat.max-tokens", p.getMaxTokens(), ChatDefaults::withMaxTokens);
        return c.withStream(p.isStream());
    }

    private static ImageDefaults image(OpenAiProxyProperties.Image p) {
        ImageDefaults i = ImageDefaults.SEED;
        i = with(i, "image.model", p.getModel(), ImageDefaults::withModel);
        i = with(i, "image.n", p.getN(), ImageDefaults::withN);
        i = with(i, "image.size", p.getSize(), ImageDefaults::withSize);
        i = with(i, "image.quality", p.getQuality(), ImageDefaults::withQuality);
        i = with(i, "image.style", p.getStyle(), ImageDefaults::withStyle);
        return with(i, "image.response-format", p.getResponseFormat(), ImageDefaults::withResponseFormat);
    }

    private static SessionConfig sessions(OpenAiProxyProperties.Sessions p) {
        SessionConfig s =
                SessionConfig.DEFAULTS.withEnabled(p.isEnabled()).withHistoryAsContext(p.isHistoryAsContext());
        s = with(s, "sessions.context-messages", p.getContextMessages(), SessionConfig::withContextMessages);
        s = with(
                s,
                "sessions.max-message-size",
                p.getMaxMessageSize(),
                (c, v) -> c.withMaxMessageSize(Math.toIntExact(v.toBytes())));
        s = with(s, "sessions.max-session-size", p.getMaxSessionSize(), (c, v) -> c.withMaxSessionSize(v.toBytes()));
        s = with(
                s,
                "sessions.max-page-size",
                p.getMaxPageSize(),
                (c, v) -> c.withMaxPageSize(Math.toIntExact(v.toBytes())));
        return with(s, "sessions.queue-size", p.getQueueSize(), SessionConfig::withQueueSize);
    }

    /** Sets a value and builds once, so that core's checks run now and name this property. */
    private static <V> void set(ProxyConfig.Builder b, String key, V value, BiConsumer<ProxyConfig.Builder, V> setter) {
        set(b, key, value, setter, ProxyConfig.Builder::build);
    }

    private static <V> void set(CorsConfig.Builder b, String key, V value, BiConsumer<CorsConfig.Builder, V> setter) {
        set(b, key, value, setter, CorsConfig.Builder::build);
    }

    private static <B, V> void set(B builder, String key, V value, BiConsumer<B, V> setter, Consumer<B> build) {
        with(builder, key, value, (b, v) -> {
            setter.accept(b, v);
            build.accept(b);
            return b;
        });
    }

    /** Applies one value to an immutable setting; core's refusal becomes an error naming the property. */
    private static <T, V> T with(T current, String key, V value, BiFunction<T, V, T> apply) {
        if (value == null) {
            throw invalid(key, null, "must be set");
        }
        try {
            return apply.apply(current, value);
        } catch (IllegalArgumentException e) {
            throw invalid(key, value, e.getMessage() == null ? "not accepted" : e.getMessage());
        } catch (NullPointerException e) {
            throw invalid(key, value, "must be set");
        } catch (ArithmeticException e) {
            throw invalid(key, value, "too large");
        }
    }

    private static InvalidConfigurationPropertyValueException invalid(String key, Object value, String reason) {
        return new InvalidConfigurationPropertyValueException(PREFIX + key, value, reason);
    }

    private static List<String> list(List<String> values) {
        return values == null ? List.of() : values;
    }
}
