package io.github.openaiproxy.core.access;

import io.github.openaiproxy.testkit.ProxyKeyStoreContract;

/** Core's in-memory key store passes the kit. */
class InMemoryProxyKeyStoreTest extends ProxyKeyStoreContract {
    private final ProxyKeyStore store = new InMemoryProxyKeyStore();

    @Override
    protected ProxyKeyStore store() {
        return store;
    }
}
