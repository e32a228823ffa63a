package io.github.openaiproxy.core.access;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Keys declared in configuration: parsed from their entries, read-only, looked up before the stored ones. */
class DeclaredProxyKeysTest {
    static final String CI = ProxyKeys.generate().secret();
    static final List<ProxyKey> DECLARED =
            DeclaredProxyKeys.parse(List.of(DeclaredProxyKeys.entry(ProxyKeys.hash(CI), "batch", "ci")));

    @Test
    void aParseErrorNeverShowsTheHash() {
        String hash = ProxyKeys.hash(CI);
        assertThatThrownBy(() -> DeclaredProxyKeys.parse(List.of(hash + ":keys:a", hash + ":keys:b")))
                .hasMessageContaining("entry 2")
                .hasMessageNotContaining(hash);
    }

    @Test
    void theDeclaredStoreIsReadOnlyAndRemembersUses() {
        ProxyKeyStore store = new DeclaredProxyKeyStore(DECLARED);
        assertThat(store.isWritable()).isFalse();
        assertThat(store.findByHash(ProxyKeys.hash(CI))).map(ProxyKey::id).contains("config-ci");
        assertThatThrownBy(() -> store.insert(DECLARED.get(0))).isInstanceOf(UnsupportedOperationException.class);
        assertThatThrownBy(() -> store.update(DECLARED.get(0))).isInstanceOf(UnsupportedOperationException.class);
        Instant at = Instant.parse("2030-01-01T00:00:00Z");
        store.touch("config-ci", at);
        store.touch("config-ci", at.minusSeconds(60)); // an older use, recorded late, is not the last
        assertThat(store.find("config-ci").orElseThrow().lastUsedAt()).isEqualTo(at);
        assertThat(store.find(null)).isEmpty();
        assertThat(store.findByHash(null)).isEmpty();
    }

    @Test
    void theLayeredStoreSeesBothAndChangesOnlyTheStoredOnes() {
        InMemoryProxyKeyStore stored = new InMemoryProxyKeyStore();
        ProxyKeyStore keys = LayeredProxyKeyStore.of(DECLARED, stored);
        ProxyKeys.NewKey k = ProxyKeys.generate();
        ProxyKey mine =
                new ProxyKey("key_1", k.displayPrefix(), k.hash(), "m", null, "keys", Instant.now(), null, null, null);
        keys.insert(mine);
        assertThat(keys.findByHash(ProxyKeys.hash(CI))).map(ProxyKey::id).contains("config-ci");
        assertThat(keys.findByHash(k.hash())).contains(mine);
        assertThat(keys.list()).extracting(ProxyKey::id).containsExactly("config-ci", "key_1");
        assertThat(keys.update(mine.withPolicy("batch"))).isTrue();
        assertThat(stored.find("key_1").orElseThrow().policy()).isEqualTo("batch");
        assertThatThrownBy(() -> keys.update(DECLARED.get(0).revoked(Instant.now())))
                .isInstanceOf(UnsupportedOperationException.class);
        assertThat(LayeredProxyKeyStore.of(List.of(), stored)).isSameAs(stored);
    }
}
