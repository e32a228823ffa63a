package io.github.openaiproxy.core.config;

import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/**
 * The names a source sets that no setting of a catalog has: a misspelt {@code OPENAI_PROXY_LIMITS_STOR} or init
 * parameter would otherwise be ignored without a word. A server logs one warning per name at start ({@link
 * Unknown#message()}), never the value (a misspelt key may hold a secret).
 *
 * <p>Names under a templated group ({@code policies.}, {@code upstreams.}, and their variables) are left out: the
 * binder already refuses those it does not know, so they never go unnoticed.
 */
public final class UnknownSettings {
    /** The prefix of the proxy's own environment variables; other variables are none of its business. */
    public static final String ENVIRONMENT_PREFIX = "OPENAI_PROXY_";

    private UnknownSettings() {}

    /**
     * One name no setting has.
     *
     * @param name the variable or key as the source spells it
     * @param closest the known name it most likely meant, when one is close
     */
    public record Unknown(String name, Optional<String> closest) {
        /** The warning to log: the name and the closest known one, never a value. */
        public String message() {
            return "unknown setting " + name + " is ignored"
                    + closest.map(c -> "; did you mean " + c + "?").orElse("");
        }
    }

    /**
     * The {@value #ENVIRONMENT_PREFIX} variables among {@code variables} that carry no setting of {@code catalog},
     * sorted, each with the closest variable that does.
     */
    public static List<Unknown> inEnvironment(SettingsCatalog catalog, Collection<String> variables) {
        // Spelling -> the variable to suggest: each setting's own, and the regular spelling of the few named
        // otherwise (OPENAI_PROXY_API_KEY means OPENAI_API_KEY), which is not read.
        Map<String, String> known = new LinkedHashMap<>();
        List<String> groups = new ArrayList<>();
        for (Setting s : catalog.settings()) {
            if (s.isTemplate()) {
                groups.add(Setting.environmentName(group(s)));
            } else {
                known.put(s.environmentName(), s.environmentName());
            }
        }
        for (Setting s : catalog.settings()) {
            String regular = ENVIRONMENT_PREFIX
                    + s.key().replace('.', '_').replace('-', '_').toUpperCase(Locale.ROOT);
            if (!s.isTemplate()) {
                known.putIfAbsent(regular, s.environmentName());
            }
        }
        List<Unknown> out = new ArrayList<>();
        for (String v : new TreeSet<>(variables)) {
            if (!v.startsWith(ENVIRONMENT_PREFIX)
                    || v.equals(known.get(v))
                    || groups.stream().anyMatch(g -> v.startsWith(g + "_"))) {
                continue;
            }
            out.add(new Unknown(v, closest(v, known, ENVIRONMENT_PREFIX.length())));
        }
        return out;
    }

    /** The keys among {@code keys} (init parameter names, a map's keys) that are no setting of {@code catalog}. */
    public static List<Unknown> inKeys(SettingsCatalog catalog, Collection<String> keys) {
        Map<String, String> known = new LinkedHashMap<>();
        Set<String> groups = new TreeSet<>();
        for (Setting s : catalog.settings()) {
            if (s.isTemplate()) {
                groups.add(group(s) + ".");
            } else {
                known.put(s.key(), s.key());
            }
        }
        List<Unknown> out = new ArrayList<>();
        for (String k : new TreeSet<>(keys)) {
            if (catalog.find(k).isPresent() || groups.stream().anyMatch(k::startsWith)) {
                continue;
            }
            out.add(new Unknown(k, closest(k, known, 0)));
        }
        return out;
    }

    /** The first segment of a templated key: {@code policies} of {@code policies.<name>.max-tokens}. */
    private static String group(Setting template) {
        return template.key().substring(0, template.key().indexOf('.'));
    }

    /**
     * The suggestion for the spelling in {@code known} nearest {@code name} by edit distance (the first in catalog
     * order on a tie), when it is close enough to be a typo: at most a quarter of the compared text, and at least 2
     * edits are allowed. {@code skip} characters common to all (the variables' prefix) are not compared.
     */
    static Optional<String> closest(String name, Map<String, String> known, int skip) {
        String best = null;
        int bestDistance = Integer.MAX_VALUE;
        String n = name.substring(Math.min(skip, name.length()));
        for (Map.Entry<String, String> k : known.entrySet()) {
            String spelling = k.getKey();
            int d = distance(n, spelling.substring(Math.min(skip, spelling.length())));
            if (d < bestDistance) {
                best = k.getValue();
                bestDistance = d;
            }
        }
        return best != null && bestDistance <= Math.max(2, n.length() / 4) ? Optional.of(best) : Optional.empty();
    }

    /** Levenshtein distance. */
    private static int distance(String a, String b) {
        int[] previous = new int[b.length() + 1];
        int[] current = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            previous[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            current[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int substitute = previous[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
                current[j] = Math.min(substitute, Math.min(previous[j], current[j - 1]) + 1);
            }
            int[] t = previous;
            previous = current;
            current = t;
        }
        return previous[b.length()];
    }
}
