package io.github.openaiproxy.core.access;

import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ConcurrentSkipListMap;

/** A {@link PolicyStore} in memory, ordered by name: for tests and single instances. */
public final class InMemoryPolicyStore implements PolicyStore {
    private final Map<String, Policy> byName = new ConcurrentSkipListMap<>();

    @Override
    public List<Policy> list() {
        return List.copyOf(byName.values());
    }

    @Override
    public Optional<Policy> find(String name) {
        return name == null ? Optional.empty() : Optional.ofNullable(byName.get(name));
    }

    @Override
    public void save(Policy policy) {
        byName.put(Objects.requireNonNull(policy, "policy").name(), policy);
    }

    @Override
    public boolean delete(String name) {
        return name != null && byName.remove(name) != null;
    }
}
