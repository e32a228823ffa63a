package io.github.openaiproxy.core.config;

import io.github.openaiproxy.core.upstream.NamedUpstream;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.core.upstream.UpstreamConnection;
import io.github.openaiproxy.core.upstream.UpstreamSettingException;
import io.github.openaiproxy.core.upstream.Upstreams;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The named upstreams' settings, {@code upstreams.<name>.<setting>} ({@code OPENAI_PROXY_UPSTREAMS_<NAME>_<SETTING>}),
 * bound onto {@link Upstreams}. Unlike a policy, an upstream is read whole from one binder: its settings only
 * make sense together (an Azure upstream needs its {@code api-version}).
 */
final class UpstreamSettings {
    static final String PREFIX = NamedUpstream.PREFIX;
    private static final String T = PREFIX + Setting.NAME + ".";

    /** The settings, in documentation order. */
    static final List<Setting> SETTINGS = List.of(
            Setting.oneOf(
                    T + "kind",
                    "openai",
                    "The upstream's wire format: openai, azure or compatible (any OpenAI-compatible server).",
                    "openai",
                    "azure",
                    "compatible"),
            Setting.of(
                    T + "base-url",
                    Setting.Type.URL,
                    null,
                    "The upstream's API root; required but for kind openai (default https://api.openai.com)."),
            Setting.of(
                    T + "keys",
                    Setting.Type.SECRET_LIST,
                    null,
                    "The upstream's API keys, a comma list; required but for kind compatible."),
            Setting.of(
                    T + "models",
                    Setting.Type.LIST,
                    null,
                    "The client model names the upstream serves, exact names or globs such as gpt-4o*."),
            Setting.of(
                    T + "aliases",
                    Setting.Type.LIST,
                    null,
                    "client-model=upstream-model pairs: the upstream is asked for the second name (for Azure, the"
                            + " deployment)."),
            Setting.string(T + "api-version", null, "The api-version query of an azure upstream; required there."),
            Setting.of(
                    T + "fallback",
                    Setting.Type.LIST,
                    null,
                    "Where a request goes once this upstream has failed it, in order: upstream or upstream:model."),
            Setting.string(
                    T + "context-fallback",
                    null,
                    "On a 400 context_length_exceeded, once, before the first byte: model or upstream:model, a"
                            + " model with a larger context window."),
            Setting.of(
                    T + "retries",
                    Setting.Type.INT,
                    "2",
                    "Retries on this upstream (0 to 10) before its fallbacks, before the first byte of an answer only."),
            Setting.of(
                    T + "retry-statuses",
                    Setting.Type.LIST,
                    "429,500,502,503,504",
                    "The statuses retried, besides connection failures and timeouts; 429 and 5xx only."),
            Setting.of(
                    T + "key-cooldown",
                    Setting.Type.DURATION,
                    "10s",
                    "How long a key rests after a 429 that sends no retry-after-ms or Retry-After."),
            Setting.of(
                    T + "retry-deadline",
                    Setting.Type.DURATION,
                    "30s",
                    "The longest a request routed here spends on retries and fallbacks, waits included."),
            Setting.of(
                    T + "breaker-failures",
                    Setting.Type.INT,
                    "5",
                    "Failures in a row (those retried) after which the upstream is skipped for breaker-open; 0: off."),
            Setting.of(
                    T + "breaker-open",
                    Setting.Type.DURATION,
                    "30s",
                    "How long an open circuit skips the upstream before one trial request."),
            // How the upstream is called: headers, timeouts, identity headers, auth style, Azure's API form.
            Setting.of(
                    T + "headers",
                    Setting.Type.SECRET_LIST,
                    null,
                    "Extra headers sent on every call, Name=value pairs; never hop-by-hop or credential headers."),
            Setting.of(
                    T + "connect-timeout",
                    Setting.Type.DURATION,
                    null,
                    "Time to connect to this upstream; unset: connect-timeout's."),
            Setting.of(
                    T + "timeout",
                    Setting.Type.DURATION,
                    null,
                    "Time to this upstream's response headers, retried as a failure when over; unset:"
                            + " response-timeout's."),
            Setting.oneOf(
                    T + "http-version",
                    null,
                    "HTTP version to this upstream: auto, 1.1 or 2; unset: upstream-http-version's. One that differs"
                            + " from it gets a client of its own.",
                    "auto",
                    "1.1",
                    "2"),
            Setting.string(T + "organization", null, "OpenAI-Organization of a kind openai upstream."),
            Setting.string(T + "project", null, "OpenAI-Project of a kind openai upstream."),
            Setting.string(
                    T + "auth",
                    "bearer",
                    "How a kind compatible upstream gets its key: bearer, header:<Name> (the bare key) or none."),
            Setting.oneOf(
                    T + "azure-api",
                    "deployments",
                    "Azure's API form: deployments (/openai/deployments/<deployment>/...?api-version=) or v1"
                            + " (/openai/v1/..., the deployment in the body's model).",
                    "deployments",
                    "v1"));

    private UpstreamSettings() {}

    /** The upstreams the binder's source configures; {@link Upstreams#NONE} when none. */
    static Upstreams apply(SettingsBinder binder) {
        List<String> unknown = binder.unknownKeys(PREFIX);
        if (!unknown.isEmpty()) {
            throw binder.unknown(unknown.get(0), "no such upstream setting; the settings are " + settings());
        }
        List<NamedUpstream> upstreams = new ArrayList<>();
        try {
            for (String name : binder.names(PREFIX)) {
                upstreams.add(upstream(binder, name));
            }
            return Upstreams.of(upstreams);
        } catch (UpstreamSettingException e) {
            throw binder.invalid(e.setting(), e.reason());
        }
    }

    private static NamedUpstream upstream(SettingsBinder binder, String name) {
        if (!Setting.isValidName(name)) {
            String key = SETTINGS.stream()
                    .map(s -> s.named(name).key())
                    .filter(binder::isSet)
                    .findFirst()
                    .orElse(PREFIX + name);
            throw binder.invalid(key, "an upstream name is lower-case letters, digits and '-'");
        }
        String kind = binder.value(key(name, "kind"));
        String baseUrl = binder.isSet(key(name, "base-url")) ? binder.value(key(name, "base-url")) : null;
        URI url;
        try {
            url = baseUrl == null ? null : UpstreamConfig.parseBaseUrl(baseUrl);
        } catch (IllegalArgumentException e) {
            throw binder.invalid(key(name, "base-url"), "not a valid URL");
        }
        return new NamedUpstream(
                name,
                NamedUpstream.Kind.parse(kind),
                url,
                list(binder, name, "keys"),
                list(binder, name, "models"),
                NamedUpstream.parseAliases(name, list(binder, name, "aliases")),
                Optional.ofNullable(
                        binder.isSet(key(name, "api-version")) ? binder.value(key(name, "api-version")) : null),
                NamedUpstream.parseFallback(name, list(binder, name, "fallback")),
                new NamedUpstream.Retry(
                        binder.<Integer>value(key(name, "retries")),
                        statuses(binder, name),
                        binder.value(key(name, "key-cooldown")),
                        binder.value(key(name, "retry-deadline")),
                        binder.<Integer>value(key(name, "breaker-failures")),
                        binder.value(key(name, "breaker-open"))),
                NamedUpstream.parseContextFallback(
                        name,
                        binder.isSet(key(name, "context-fallback"))
                                ? binder.value(key(name, "context-fallback"))
                                : null),
                connection(binder, name));
    }

    private static UpstreamConnection connection(SettingsBinder binder, String name) {
        UpstreamConnection.Auth auth;
        try {
            auth = UpstreamConnection.Auth.parse(binder.value(key(name, "auth")));
        } catch (IllegalArgumentException e) {
            throw binder.invalid(key(name, "auth"), e.getMessage());
        }
        return new UpstreamConnection(
                UpstreamConnection.parseHeaders(name, list(binder, name, "headers")),
                Optional.ofNullable(binder.value(key(name, "connect-timeout"))),
                Optional.ofNullable(binder.value(key(name, "timeout"))),
                optional(binder, name, "organization"),
                optional(binder, name, "project"),
                auth,
                UpstreamConnection.AzureApi.parse(binder.value(key(name, "azure-api"))),
                Optional.ofNullable(binder.<String>value(key(name, "http-version")))
                        .map(UpstreamConfig.HttpVersion::parse));
    }

    private static Optional<String> optional(SettingsBinder binder, String name, String setting) {
        return Optional.ofNullable(binder.isSet(key(name, setting)) ? binder.value(key(name, setting)) : null);
    }

    private static java.util.Set<Integer> statuses(SettingsBinder binder, String name) {
        java.util.Set<Integer> out = new java.util.LinkedHashSet<>();
        List<String> entries = binder.value(key(name, "retry-statuses"));
        for (String e : entries) {
            try {
                out.add(Integer.parseInt(e.strip()));
            } catch (NumberFormatException notANumber) {
                throw binder.invalid(key(name, "retry-statuses"), "expected HTTP statuses such as 429, 503");
            }
        }
        return out;
    }

    private static List<String> list(SettingsBinder binder, String name, String setting) {
        String key = key(name, setting);
        if (!binder.isSet(key)) {
            return List.of();
        }
        List<String> v = binder.value(key);
        if ((v == null || v.isEmpty()) && setting.equals("keys")) {
            // Set but empty (only commas, a Spring property set to nothing) is a mistake, not "no auth": that is
            // leaving it unset. A blank environment variable or init parameter never gets here (read as unset).
            throw binder.invalid(key, "an empty key list; leave keys unset for a server without auth");
        }
        return v == null ? List.of() : v;
    }

    private static String key(String name, String setting) {
        return NamedUpstream.key(name, setting);
    }

    private static String settings() {
        return String.join(
                ", ", SETTINGS.stream().map(s -> s.key().substring(T.length())).toList());
    }
}
