package io.github.openaiproxy.core.limits;

import io.github.openaiproxy.testkit.LimitStoreContract;

/** Core's in-process store passes the kit (its cross-instance tests are skipped: it is one instance's). */
class MemoryLimitStoreTest extends LimitStoreContract {
    private final MemoryLimitStore store = new MemoryLimitStore();

    @Override
    protected LimitStore store() {
        return store;
    }
}
