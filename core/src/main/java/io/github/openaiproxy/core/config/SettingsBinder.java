package io.github.openaiproxy.core.config;

import java.math.BigDecimal;
import java.time.Duration;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.function.BiFunction;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * Reads settings from one text source through a {@link SettingsCatalog}: the only place where a setting's
 * text becomes a value, whatever the source (servlet init parameters, environment variables, Spring
 * properties flattened to their keys). A refused value, whether its text does not parse or core refuses
 * it, fails with an {@link InvalidSettingException} naming the key, the value (never a secret's) and the
 * reason.
 *
 * <p>Blank values: a source returns {@code null} for an unset key. The text sources ({@link #fromText},
 * {@link #fromEnvironment}) treat a blank value as unset, so an empty environment variable changes nothing.
 * A source that passes blanks on ({@link #of}, as the Spring starter does for a property set to nothing)
 * gets an empty list for a {@link Setting.Type#LIST list}, the blank text for a
 * {@link Setting.Type#STRING string} (core decides whether it is acceptable), and unset for the other types.
 *
 * <p>Values are typed by the setting: {@code String} (STRING, SECRET, URL, ENUM lower case),
 * {@code Boolean}, {@code Integer}, {@code BigDecimal}, {@code Long} bytes (SIZE), {@code Duration},
 * {@code List<String>} (LIST, SECRET_LIST).
 */
public final class SettingsBinder {
    private final SettingsCatalog catalog;
    private final Function<String, String> source;
    private final Function<String, String> origin;
    /** The keys the source sets, as far as it can list them: how the names of templated settings are found. */
    private final Supplier<? extends Collection<String>> keys;

    private SettingsBinder(
            SettingsCatalog catalog,
            Function<String, String> source,
            Function<String, String> origin,
            Supplier<? extends Collection<String>> keys) {
        this.catalog = catalog;
        this.source = source;
        this.origin = origin;
        this.keys = keys;
    }

    /**
     * Settings from a source that may pass blank values on (see the class comment). It cannot list its keys,
     * so no templated setting ({@code policies.<name>.*}) is found in it.
     */
    public static SettingsBinder of(SettingsCatalog catalog, Function<String, String> source) {
        return of(catalog, source, List::of);
    }

    /** The same, with the keys the source sets, so that templated settings are found too. */
    public static SettingsBinder of(
            SettingsCatalog catalog, Function<String, String> source, Supplier<? extends Collection<String>> keys) {
        return new SettingsBinder(catalog, source, key -> null, keys);
    }

    /**
     * Settings from text keyed like the catalog (init parameters, a map); blank means unset. It cannot list its
     * keys, so no templated setting is found in it.
     */
    public static SettingsBinder fromText(SettingsCatalog catalog, Function<String, String> lookup) {
        return fromText(catalog, lookup, List::of);
    }

    /** The same, with the keys the source sets (init parameter names, a map's keys). */
    public static SettingsBinder fromText(
            SettingsCatalog catalog, Function<String, String> lookup, Supplier<? extends Collection<String>> keys) {
        return new SettingsBinder(catalog, key -> blankToNull(lookup.apply(key)), key -> null, keys);
    }

    /**
     * Settings from environment variables named by {@link Setting#environmentName(String)}; blank means
     * unset. Messages name the variable too.
     */
    public static SettingsBinder fromEnvironment(SettingsCatalog catalog, Map<String, String> env) {
        // The variables under a templated group (OPENAI_PROXY_POLICIES_, OPENAI_PROXY_UPSTREAMS_) that name no
        // setting are listed too, as the key they spell: a misspelt rule is refused naming its variable, as from
        // init parameters, instead of leaving the policy unrestricted.
        java.util.Set<String> groups = new java.util.TreeSet<>();
        for (Setting t : catalog.templates()) {
            String key = t.key();
            groups.add(Setting.environmentName(key.substring(0, key.indexOf('.'))) + "_");
        }
        return new SettingsBinder(
                catalog,
                key -> blankToNull(env.get(Setting.environmentName(key))),
                key -> "environment variable " + Setting.environmentName(key),
                () -> env.entrySet().stream()
                        .filter(e -> e.getValue() != null && !e.getValue().isBlank())
                        .map(e -> {
                            String v = e.getKey();
                            Optional<String> known = catalog.keyForEnvironmentName(v);
                            if (known.isPresent()) {
                                return known.get();
                            }
                            for (String group : groups) {
                                if (v.startsWith(group) && v.length() > group.length()) {
                                    String prefix = group.substring("OPENAI_PROXY_".length(), group.length() - 1)
                                            .toLowerCase(java.util.Locale.ROOT);
                                    return prefix + "."
                                            + v.substring(group.length())
                                                    .toLowerCase(java.util.Locale.ROOT)
                                                    .replace('_', '-');
                                }
                            }
                            return null;
                        })
                        .filter(java.util.Objects::nonNull)
                        .toList());
    }

    /** The catalog this binder reads through. */
    public SettingsCatalog catalog() {
        return catalog;
    }

    /**
     * The names the source gives the templated settings whose keys start with {@code prefix} (for example
     * {@code policies.}), sorted: {@code free} when {@code policies.free.max-tokens} is set. A name may be
     * malformed (see {@link Setting#isValidName}); the caller refuses it with {@link #invalid}.
     */
    public java.util.SortedSet<String> names(String prefix) {
        java.util.SortedSet<String> names = new java.util.TreeSet<>();
        for (String key : keys.get()) {
            if (!key.startsWith(prefix)) {
                continue;
            }
            for (Setting t : catalog.templates()) {
                String name = t.key().startsWith(prefix) ? t.nameIn(key) : null;
                if (name != null && text(t.named(name)) != null) {
                    names.add(name);
                }
            }
        }
        return names;
    }

    /**
     * The keys the source sets that start with {@code prefix} but are no setting of the catalog (a misspelt
     * rule, for example), for a caller that refuses them.
     */
    public List<String> unknownKeys(String prefix) {
        return keys.get().stream()
                .filter(k -> k.startsWith(prefix) && catalog.find(k).isEmpty())
                .sorted()
                .toList();
    }

    /** Whether the source sets this key. */
    public boolean isSet(String key) {
        return text(catalog.get(key)) != null;
    }

    /** The key's value, or its default when unset ({@code null} without one). */
    public <V> V value(String key) {
        Setting s = catalog.get(key);
        String text = text(s);
        if (text != null) {
            return parse(s, text);
        }
        return s.defaultValue() == null ? null : parse(s, s.defaultValue());
    }

    /** Passes the key's value to {@code sink} when set; a refusal by the sink names the key. */
    public <V> void ifSet(String key, Consumer<V> sink) {
        Setting s = catalog.get(key);
        String text = text(s);
        if (text != null) {
            V v = parse(s, text);
            guard(s, text, () -> {
                sink.accept(v);
                return null;
            });
        }
    }

    /**
     * Applies the key's value to an immutable {@code current} when set, else returns it unchanged; a refusal
     * by {@code apply} names the key.
     */
    public <T, V> T with(T current, String key, BiFunction<T, V, T> apply) {
        Setting s = catalog.get(key);
        String text = text(s);
        if (text == null) {
            return current;
        }
        V v = parse(s, text);
        return guard(s, text, () -> apply.apply(current, v));
    }

    /** A refusal of a set value, as this binder reports it (for checks made after binding). */
    public InvalidSettingException invalid(String key, String reason) {
        Setting s = catalog.get(key);
        return new InvalidSettingException(s, origin.apply(s.key()), text(s), reason, null);
    }

    /**
     * A refusal of a key the source sets that is no setting of the catalog (a misspelt rule). Its value is never
     * quoted: what it was meant to be is unknown, and a misspelt {@code ..._KEY} for {@code ..._KEYS} holds a key.
     */
    public InvalidSettingException unknown(String key, String reason) {
        Setting s = Setting.of(key, Setting.Type.SECRET, null, key);
        return new InvalidSettingException(s, origin.apply(key), text(s), reason, null);
    }

    private String text(Setting s) {
        String raw = source.apply(s.key());
        if (raw == null) {
            return null;
        }
        String v = raw.strip();
        if (v.isEmpty()
                && s.type() != Setting.Type.LIST
                && s.type() != Setting.Type.SECRET_LIST
                && s.type() != Setting.Type.STRING) {
            return null;
        }
        return v;
    }

    private <T> T guard(Setting s, String text, java.util.function.Supplier<T> step) {
        try {
            return step.get();
        } catch (InvalidSettingException e) {
            throw e;
        } catch (IllegalArgumentException | NullPointerException e) {
            String m = e.getMessage();
            throw new InvalidSettingException(
                    s, origin.apply(s.key()), text, m == null || m.isBlank() ? "not accepted" : m, e);
        } catch (ArithmeticException e) {
            throw new InvalidSettingException(s, origin.apply(s.key()), text, "too large", e);
        }
    }

    @SuppressWarnings("unchecked")
    private <V> V parse(Setting s, String text) {
        try {
            return (V) convert(s, text);
        } catch (RuntimeException e) {
            throw new InvalidSettingException(s, origin.apply(s.key()), text, reason(s), e);
        }
    }

    private static Object convert(Setting s, String v) {
        return switch (s.type()) {
            case STRING, SECRET, URL -> v;
            case BOOLEAN -> bool(v);
            case INT -> Integer.parseInt(v);
            case LONG -> Long.parseLong(v);
            case DECIMAL -> new BigDecimal(v);
            case SIZE -> size(v);
            case DURATION -> duration(v);
            case LIST, SECRET_LIST -> list(v);
            case ENUM -> {
                String lower = v.toLowerCase(Locale.ROOT);
                if (!s.values().contains(lower)) {
                    throw new IllegalArgumentException();
                }
                yield lower;
            }
        };
    }

    private static String reason(Setting s) {
        return switch (s.type()) {
            case BOOLEAN -> "expected true or false";
            case INT, LONG -> "not a whole number";
            case DECIMAL -> "not a number";
            case SIZE -> "expected a positive size such as 10MB or 1048576";
            case DURATION -> "expected a duration such as 30s, 500ms or PT30S";
            case ENUM ->
                "expected " + String.join(", ", s.values().subList(0, s.values().size() - 1)) + " or "
                        + s.values().get(s.values().size() - 1);
            default -> "not accepted";
        };
    }

    static boolean bool(String v) {
        return switch (v.toLowerCase(Locale.ROOT)) {
            case "true", "yes", "on", "1" -> true;
            case "false", "no", "off", "0" -> false;
            default -> throw new IllegalArgumentException();
        };
    }

    static List<String> list(String v) {
        return Arrays.stream(v.split(","))
                .map(String::strip)
                .filter(s -> !s.isEmpty())
                .toList();
    }

    static Duration duration(String v) {
        String s = v.strip().toLowerCase(Locale.ROOT);
        if (s.startsWith("p")) {
            return Duration.parse(v.strip().toUpperCase(Locale.ROOT));
        }
        if (s.endsWith("ms")) {
            return Duration.ofMillis(
                    Long.parseLong(s.substring(0, s.length() - 2).strip()));
        }
        long n = Long.parseLong((s.endsWith("s") || s.endsWith("m") || s.endsWith("h") || s.endsWith("d")
                        ? s.substring(0, s.length() - 1)
                        : s)
                .strip());
        if (s.endsWith("m")) {
            return Duration.ofMinutes(n);
        }
        if (s.endsWith("h")) {
            return Duration.ofHours(n);
        }
        if (s.endsWith("d")) {
            return Duration.ofDays(n);
        }
        return Duration.ofSeconds(n);
    }

    static long size(String v) {
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
        long n = Long.parseLong(digits.strip());
        if (n < 1) {
            throw new IllegalArgumentException();
        }
        return Math.multiplyExact(n, unit);
    }

    private static String blankToNull(String v) {
        return v == null || v.isBlank() ? null : v;
    }
}
