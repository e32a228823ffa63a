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

    private SettingsCatalog(Map<String, Setting> byKey) {
        this.byKey = Collections.unmodifiableMap(byKey);
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

    /** The setting with this key. */
    public Optional<Setting> find(String key) {
        return Optional.ofNullable(byKey.get(key));
    }

    /** The setting with this key; a key outside the catalog is a programming error. */
    public Setting get(String key) {
        Setting s = byKey.get(key);
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
