package io.github.openaiproxy.core.upstream;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The named upstreams of {@code upstreams.<name>.*}, checked as a whole: every fallback names a known
 * upstream and no chain comes back to where it started. The upstream named {@value #DEFAULT} is the default:
 * when not configured by name it is the one of {@code api-key} / {@code base-url} ({@code OPENAI_API_KEY},
 * {@code OPENAI_BASE_URL}), so a fallback may name it either way. {@link #NONE} (no upstream configured) is
 * today's single upstream, unchanged.
 */
public final class Upstreams {
    /** The name of the default upstream, the one {@code OPENAI_API_KEY} and {@code OPENAI_BASE_URL} configure. */
    public static final String DEFAULT = "openai";

    /** No named upstream: every request goes to the single upstream of {@link UpstreamConfig}. */
    public static final Upstreams NONE = new Upstreams(Map.of());

    private final Map<String, NamedUpstream> byName;
    /** The upstreams whose request may meet one that refuses {@code stream_options}, on it or a fallback. */
    private final Set<String> meetStreamOptionsRefusal;

    private Upstreams(Map<String, NamedUpstream> byName) {
        this.byName = byName;
        Set<String> refusing = new HashSet<>();
        for (String name : byName.keySet()) {
            if (reaches(name, u -> !u.acceptsStreamOptions(), new HashSet<>())) {
                refusing.add(name);
            }
        }
        this.meetStreamOptionsRefusal = Set.copyOf(refusing);
    }

    /** Whether {@code name} or an upstream its fallbacks or context fallback lead to is {@code wanted}. */
    private boolean reaches(String name, java.util.function.Predicate<NamedUpstream> wanted, Set<String> seen) {
        NamedUpstream u = byName.get(name);
        if (u == null || !seen.add(name)) {
            return false; // the implicit default upstream (OpenAI or compatible), or already looked at
        }
        if (wanted.test(u)) {
            return true;
        }
        for (NamedUpstream.Fallback f : u.fallback()) {
            if (reaches(f.upstream(), wanted, seen)) {
                return true;
            }
        }
        return u.contextFallback().isPresent()
                && reaches(u.contextFallback().get().upstream(), wanted, seen);
    }

    /**
     * Whether a stream routed to {@code name} may be asked for its usage ({@code stream_options.include_usage}):
     * no attempt of it, there or on a fallback, goes to an upstream that refuses {@code stream_options}.
     */
    public boolean mayAskForStreamUsage(String name) {
        return !meetStreamOptionsRefusal.contains(name);
    }

    /**
     * The upstreams, in configuration order (routing tries globs in this order).
     *
     * @throws UpstreamSettingException naming the {@code fallback} setting of an upstream whose chain names an
     *     unknown upstream or comes back to an upstream already in it
     */
    public static Upstreams of(List<NamedUpstream> upstreams) {
        if (upstreams.isEmpty()) {
            return NONE;
        }
        Map<String, NamedUpstream> byName = new LinkedHashMap<>();
        for (NamedUpstream u : upstreams) {
            if (byName.put(u.name(), u) != null) {
                throw new UpstreamSettingException(NamedUpstream.key(u.name(), "kind"), "upstream configured twice");
            }
        }
        for (NamedUpstream u : byName.values()) {
            for (NamedUpstream.Fallback f : u.fallback()) {
                if (!byName.containsKey(f.upstream()) && !f.upstream().equals(DEFAULT)) {
                    throw new UpstreamSettingException(
                            NamedUpstream.key(u.name(), "fallback"),
                            "no upstream named '" + f.upstream() + "'; the upstreams are " + names(byName));
                }
            }
        }
        for (NamedUpstream u : byName.values()) {
            String to =
                    u.contextFallback().map(NamedUpstream.Fallback::upstream).orElse(u.name());
            if (!byName.containsKey(to) && !to.equals(DEFAULT)) {
                throw new UpstreamSettingException(
                        NamedUpstream.key(u.name(), "context-fallback"),
                        "no upstream named '" + to + "'; the upstreams are " + names(byName));
            }
        }
        for (NamedUpstream u : byName.values()) {
            checkNoCycle(byName, u);
        }
        checkNoShadowedGlobs(byName);
        return new Upstreams(Collections.unmodifiableMap(byName));
    }

    /** Whether no upstream is configured by name (the single-upstream proxy of before). */
    public boolean isEmpty() {
        return byName.isEmpty();
    }

    /** Whether a named upstream holds keys of its own (the proxy spends them, with or without a server key). */
    public boolean anyKeys() {
        return all().stream().anyMatch(u -> !u.keys().isEmpty());
    }

    /** The upstreams, in configuration order. */
    public List<NamedUpstream> all() {
        return List.copyOf(byName.values());
    }

    /** The upstream of this name, if configured. */
    public Optional<NamedUpstream> get(String name) {
        return Optional.ofNullable(byName.get(name));
    }

    /**
     * The upstream that serves a client model: the first whose {@code aliases} name it exactly, else the first
     * whose {@code models} name it exactly, else the first whose globs match it; empty: the default upstream.
     */
    public Optional<NamedUpstream> route(String model) {
        if (model == null || byName.isEmpty()) {
            return Optional.empty();
        }
        for (NamedUpstream u : byName.values()) {
            if (u.aliases().containsKey(model)) {
                return Optional.of(u);
            }
        }
        for (NamedUpstream u : byName.values()) {
            if (u.models().contains(model)) {
                return Optional.of(u);
            }
        }
        for (NamedUpstream u : byName.values()) {
            if (u.matchesGlob(model)) {
                return Optional.of(u);
            }
        }
        return Optional.empty();
    }

    /**
     * The model names {@code GET /v1/models} lists: each upstream's aliases' client names and its exact (not
     * glob) model names, once each, in configuration order.
     */
    public List<String> listedModels() {
        java.util.Set<String> out = new java.util.LinkedHashSet<>();
        for (NamedUpstream u : byName.values()) {
            out.addAll(u.aliases().keySet());
            for (String m : u.models()) {
                if (!Globs.isGlob(m)) {
                    out.add(m);
                }
            }
        }
        return List.copyOf(out);
    }

    /**
     * Refuses a glob in {@code models} that routing can never pick, as it would match nothing: globs are tried in
     * configuration order, so a glob an earlier upstream lists identically, or any glob after an earlier
     * catch-all ({@code *}), is dead. (Exact names are left alone: they are listed by {@code GET /v1/models}.)
     */
    private static void checkNoShadowedGlobs(Map<String, NamedUpstream> byName) {
        List<NamedUpstream> earlier = new ArrayList<>();
        for (NamedUpstream u : byName.values()) {
            for (String m : u.models()) {
                if (!Globs.isGlob(m)) {
                    continue;
                }
                for (NamedUpstream e : earlier) {
                    String by = e.models().contains(m)
                            ? "upstream " + e.name() + " lists it too"
                            : e.models().stream().anyMatch(Globs::isCatchAll)
                                    ? "upstream " + e.name() + " has the catch-all glob *"
                                    : null;
                    if (by != null) {
                        throw new UpstreamSettingException(
                                NamedUpstream.key(u.name(), "models"),
                                "the glob '" + m + "' would match nothing here: " + by
                                        + " and globs are tried in configuration order");
                    }
                }
            }
            earlier.add(u);
        }
    }

    /**
     * Walks every chain from {@code start} depth first; meeting an upstream already on the current path is a
     * cycle ({@code a -> b -> a}), which would retry forever.
     */
    private static void checkNoCycle(Map<String, NamedUpstream> byName, NamedUpstream start) {
        Map<String, Boolean> onPath = new HashMap<>();
        visit(byName, start.name(), onPath, new ArrayList<>(), start);
    }

    private static void visit(
            Map<String, NamedUpstream> byName,
            String name,
            Map<String, Boolean> onPath,
            List<String> path,
            NamedUpstream start) {
        NamedUpstream u = byName.get(name);
        if (u == null) {
            return; // the implicit default upstream has no chain
        }
        onPath.put(name, Boolean.TRUE);
        path.add(name);
        for (NamedUpstream.Fallback f : u.fallback()) {
            if (Boolean.TRUE.equals(onPath.get(f.upstream()))) {
                if (f.upstream().equals(name) && f.model().isPresent()) {
                    continue; // the same upstream with another model is a step, not a loop
                }
                throw new UpstreamSettingException(
                        NamedUpstream.key(start.name(), "fallback"),
                        "fallback chain has a cycle: " + String.join(" -> ", path) + " -> " + f.upstream());
            }
            visit(byName, f.upstream(), onPath, path, start);
        }
        path.remove(path.size() - 1);
        onPath.put(name, Boolean.FALSE);
    }

    private static String names(Map<String, NamedUpstream> byName) {
        List<String> names = new ArrayList<>(byName.keySet());
        if (!names.contains(DEFAULT)) {
            names.add(DEFAULT);
        }
        return String.join(", ", names);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Upstreams u && u.byName.equals(byName);
    }

    @Override
    public int hashCode() {
        return byName.hashCode();
    }

    @Override
    public String toString() {
        return "Upstreams" + byName.values();
    }
}
