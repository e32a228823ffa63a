package io.github.openaiproxy.core.access;

import java.util.List;
import java.util.Optional;

/** SPI: policies managed through the admin API and kept in a database (configured ones are not stored here). */
public interface PolicyStore {
    /** All stored policies, by name. */
    List<Policy> list();

    /** The stored policy with this name. */
    Optional<Policy> find(String name);

    /** Creates or replaces a policy. */
    void save(Policy policy);

    /** Deletes a policy; {@code false} when there was none. */
    boolean delete(String name);
}
