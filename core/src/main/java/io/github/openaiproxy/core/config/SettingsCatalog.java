package io.github.openaiproxy.core.config;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The settings one module reads, in documentation order. Each module that owns settings publishes its
 * catalog as a constant ({@link ProxySettings#CATALOG} for core, {@code GraphQlOptions.SETTINGS} for the
 * GraphQL module, ...); {@link #concat} joins them for a server that reads several modules' settings, and
 * for the tests that keep the Spring properties and the README equal to them.
 */
public final class SettingsCatalog {
    private final Map<String, Setting> byKey;
    /** The templated settings, those with the longest environment variable first (see {@link #keyForEnvironmentName}). */
    private final List<Setting> templates;

    private SettingsCatalog(Map<String, Setting> byKey) {
        this.byKey = Collections.unmodifiableMap(byKey);
        List<Setting> t = new ArrayList<>();
        for (Setting s : byKey.values()) {
            if (s.isTemplate()) {
                t.add(s);
            }
        }
        t.sort(java.util.Comparator.comparingInt(
                (Setting s) -> -s.environmentName().length()));
        this.templates = List.copyOf(t);
    }

    /** A catalog of these settings; a key may appear once. */
    public static SettingsCatalog of(Setting... settings) {
        return of(List.of(settings));
    }

    /** A catalog of these settings; a key may appear once. */
    public static SettingsCatalog of(List<Setting> settings) {
        Map<String, Setting> byKey = new LinkedHashMap<>();
        for (Setting s : settings) {
            if (byKey.put(s.key(), s) != null) {
                throw new IllegalArgumentException("setting " + s.key() + " declared twice");
            }
        }
        return new SettingsCatalog(byKey);
    }

    /** The settings of several catalogs; a key may appear in one only. */
    public static SettingsCatalog concat(SettingsCatalog... catalogs) {
        List<Setting> all = new ArrayList<>();
        for (SettingsCatalog c : catalogs) {
            all.addAll(c.settings());
        }
        return of(all);
    }

    /** The settings, in documentation order. */
    public List<Setting> settings() {
        return List.copyOf(byKey.values());
    }

    /** The keys, in documentation order. */
    public List<String> keys() {
        return List.copyOf(byKey.keySet());
    }

    /**
     * The setting with this key: a declared one, or the member of a templated setting
     * ({@code policies.free.max-tokens} of {@code policies.<name>.max-tokens}).
     */
    public Optional<Setting> find(String key) {
        Setting s = byKey.get(key);
        if (s != null) {
            return Optional.of(s);
        }
        for (Setting t : templates) {
            String name = t.nameIn(key);
            if (name != null) {
                return Optional.of(t.named(name));
            }
        }
        return Optional.empty();
    }

    /** The templated settings ({@code policies.<name>.max-tokens}, ...). */
    public List<Setting> templates() {
        return templates;
    }

    /**
     * The key an environment variable of a templated setting carries, for example
     * {@code policies.team-a.max-tokens} for {@code OPENAI_PROXY_POLICIES_TEAM_A_MAX_TOKENS}. The longest
     * matching rule wins, so {@code OPENAI_PROXY_POLICIES_X_IMAGE_MODELS} is rule {@code image-models} of
     * policy {@code x}.
     */
    public Optional<String> keyForEnvironmentName(String variable) {
        for (Setting t : templates) {
            String key = t.keyForEnvironmentName(variable);
            if (key != null) {
                return Optional.of(key);
            }
        }
        return Optional.empty();
    }

    /** The setting with this key (see {@link #find}); a key outside the catalog is a programming error. */
    public Setting get(String key) {
        Setting s = find(key).orElse(null);
        if (s == null) {
            throw new IllegalArgumentException("no setting " + key + " in this catalog");
        }
        return s;
    }

    @Override
    public String toString() {
        return "SettingsCatalog" + byKey.keySet();
    }
}
