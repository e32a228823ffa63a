package io.github.openaiproxy.core.access;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.testkit.ProxyKeyStoreContract;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Keys declared in configuration over the in-memory store pass the kit, as the engine layers them: its pages run
 * through the declared keys and on into the stored ones.
 */
class LayeredProxyKeyStoreTest extends ProxyKeyStoreContract {
    /** Declared keys named so that their ids sort apart from one another, never after a stored key's. */
    static final List<ProxyKey> DECLARED = DeclaredProxyKeys.parse(List.of(
            DeclaredProxyKeys.entry(ProxyKeys.hash("opk-declared-c"), "keys", "c"),
            DeclaredProxyKeys.entry(ProxyKeys.hash("opk-declared-a"), "keys", "a"),
            DeclaredProxyKeys.entry(ProxyKeys.hash("opk-declared-b"), "keys", "b")));

    private final ProxyKeyStore store = LayeredProxyKeyStore.of(DECLARED, new InMemoryProxyKeyStore());

    @Override
    protected ProxyKeyStore store() {
        return store;
    }

    /** The declared keys first, in id order, then the stored ones: at every limit, the page boundary anywhere. */
    @Test
    void pagesRunThroughTheDeclaredKeysIntoTheStoredOnes() {
        ProxyKey stored = newKey("keys", 0);
        store.insert(stored);
        for (int limit = 1; limit <= 5; limit++) {
            assertThat(allPages(limit).stream().map(ProxyKey::id).toList())
                    .as("limit %d", limit)
                    .containsExactly("config-a", "config-b", "config-c", stored.id());
        }
        ProxyKeyPage lastDeclared = store.page("config-b", 1);
        assertThat(lastDeclared.keys()).extracting(ProxyKey::id).containsExactly("config-c");
        assertThat(lastDeclared.hasMore()).as("a stored key follows").isTrue();
    }

    /** Only declared keys: the page that ends with the last of them has nothing after it. */
    @Test
    void withNoStoredKeyTheLastDeclaredOneEndsTheList() {
        ProxyKeyStore onlyDeclared = LayeredProxyKeyStore.of(DECLARED, new InMemoryProxyKeyStore());
        ProxyKeyPage page = onlyDeclared.page("config-a", 2);
        assertThat(page.keys()).extracting(ProxyKey::id).containsExactly("config-b", "config-c");
        assertThat(page.hasMore()).isFalse();
        assertThat(page.nextAfter()).isNull();
    }
}
