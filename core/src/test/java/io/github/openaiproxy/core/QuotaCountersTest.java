package io.github.openaiproxy.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.access.Policy;
import java.math.BigDecimal;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Which policies (and a usage ledger) make the engine load a tokenizer at start (see {@code TokenCounter.loadInBackground}). */
class QuotaCountersTest {
    private static Policy policy(Policy.Quotas quotas) {
        return new Policy(
                "p", List.of(), List.of(), null, null, Policy.OverCap.CLAMP, List.of(), List.of(), List.of(), quotas);
    }

    @Test
    void tokenAndMoneyLimitsCountTokensAndOthersDoNot() {
        Policy none = policy(Policy.Quotas.NONE);
        Policy requests = policy(new Policy.Quotas(60L, null, null, null, null, null, 4L, null, null));
        Policy tokens = policy(new Policy.Quotas(null, null, null, null, null, 1_000_000L, null, null, null));
        Policy money = policy(new Policy.Quotas(null, null, null, null, null, null, null, null, BigDecimal.TEN));

        assertThat(QuotaCounters.countsTokens(List.of())).isFalse();
        assertThat(QuotaCounters.countsTokens(List.of(none, requests))).isFalse();
        assertThat(QuotaCounters.countsTokens(List.of(none, tokens))).isTrue();
        assertThat(QuotaCounters.countsTokens(List.of(money))).isTrue();
    }

    /**
     * A usage ledger counts every stream's relayed output as it goes (the row of a stream cut short): loaded by
     * that first count, the tokenizer held a fresh standalone server's first stream for 4-6 s at 17 KB in.
     */
    @Test
    void aUsageLedgerCountsTokensFromStartWhateverThePolicies() {
        Policy none = policy(Policy.Quotas.NONE);
        Policy tokens = policy(new Policy.Quotas(null, null, null, null, null, 1_000_000L, null, null, null));

        assertThat(ProxyEngine.countsTokensFromStart(List.of(none), true)).isTrue();
        assertThat(ProxyEngine.countsTokensFromStart(List.of(), true)).isTrue();
        assertThat(ProxyEngine.countsTokensFromStart(List.of(none), false)).isFalse();
        assertThat(ProxyEngine.countsTokensFromStart(List.of(tokens), false)).isTrue();
    }
}
