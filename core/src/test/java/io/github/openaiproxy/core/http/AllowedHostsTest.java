package io.github.openaiproxy.core.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatIllegalArgumentException;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class AllowedHostsTest {
    private final AllowedHosts hosts =
            AllowedHosts.of(List.of("chat.example.com", ".corp.example", "localhost", "127.0.0.1", "[::1]"));

    @Test
    void noEntriesMeanAnyHost() {
        assertThat(AllowedHosts.of(List.of())).isSameAs(AllowedHosts.ANY);
        assertThat(AllowedHosts.of(List.of(" ", ""))).isSameAs(AllowedHosts.ANY);
        assertThat(AllowedHosts.ANY.allowsHost("anything.test")).isTrue();
        assertThat(AllowedHosts.of(List.of("localhost", "*")).allowsHost("evil.test"))
                .isTrue();
    }

    @Test
    void matchesExactNamesWhateverTheirCase() {
        assertThat(hosts.allowsHost("chat.example.com")).isTrue();
        assertThat(hosts.allowsHost("CHAT.Example.com")).isTrue();
        assertThat(hosts.allowsHost("chat.example.com.")).isTrue();
        assertThat(hosts.allowsHost("example.com")).isFalse();
        assertThat(hosts.allowsHost("evilchat.example.com")).isFalse();
        assertThat(hosts.allowsHost("chat.example.com.evil.test")).isFalse();
    }

    @Test
    void aLeadingDotAllowsTheDomainAndItsSubdomains() {
        assertThat(hosts.allowsHost("corp.example")).isTrue();
        assertThat(hosts.allowsHost("ai.corp.example")).isTrue();
        assertThat(hosts.allowsHost("a.b.corp.example")).isTrue();
        assertThat(hosts.allowsHost("evilcorp.example")).isFalse();
    }

    @Test
    void ipAddressesMatchWithOrWithoutBrackets() {
        assertThat(hosts.allowsHost("127.0.0.1")).isTrue();
        assertThat(hosts.allowsHost("[::1]")).isTrue();
        assertThat(hosts.allowsHost("::1")).isTrue();
        assertThat(hosts.allowsHost("10.0.0.1")).isFalse();
    }

    @Test
    void judgesTheOriginTheAdapterSawElseTheHostHeader() {
        assertThat(hosts.allows(request().requestOrigin("http://localhost:8787").build()))
                .isTrue();
        assertThat(hosts.allows(request()
                        .requestOrigin("http://rebound.evil.test:8787")
                        .header("Host", "localhost:8787")
                        .build()))
                .as("the adapter's view wins")
                .isFalse();
        assertThat(hosts.allows(request().requestOrigin("http://[::1]:8787").build()))
                .isTrue();
        assertThat(hosts.allows(request().header("Host", "chat.example.com:443").build()))
                .isTrue();
        assertThat(hosts.allows(request().header("Host", "[::1]:8080").build())).isTrue();
        assertThat(hosts.allows(request().header("Host", "evil.test").build())).isFalse();
    }

    /** The verdict remembered for the last origin never answers for another one, in any order, on any thread. */
    @Test
    void aRememberedVerdictBelongsToItsOriginOnly() throws Exception {
        String[] origins = {
            "http://localhost:8787",
            "http://rebound.evil.test:8787",
            "http://a.corp.example",
            "http://corp.example.evil",
            "not a uri",
            "http://[::1]:1"
        };
        boolean[] expected = {true, false, true, false, true, true};
        Runnable judge = () -> {
            for (int i = 0; i < 20_000; i++) {
                int k = (i * 7 + i / 3) % origins.length;
                ProxyRequest r = request()
                        .requestOrigin(origins[k])
                        .header("Host", "localhost")
                        .build();
                if (hosts.allows(r) != expected[k]) {
                    throw new AssertionError(origins[k]);
                }
            }
        };
        java.util.concurrent.CompletableFuture<Void> other = java.util.concurrent.CompletableFuture.runAsync(judge);
        judge.run();
        other.get();
        assertThat(hosts.allows(request()
                        .requestOrigin("http://evil.test")
                        .header("Host", "localhost")
                        .build()))
                .isFalse();
        assertThat(hosts.allows(request()
                        .requestOrigin("http://evil.test")
                        .header("Host", "localhost")
                        .build()))
                .as("asked again")
                .isFalse();
    }

    @Test
    void aRequestThatNamesNoHostIsNotABrowsersAndPasses() {
        assertThat(hosts.allows(request().build())).isTrue();
    }

    @ParameterizedTest
    @ValueSource(
            strings = {"https://chat.example.com", "localhost:8080", "chat.example.com/ai", "*.example.com", "a b"})
    void anEntryWithSchemePortPathOrWildcardIsRefusedNamingTheSetting(String entry) {
        assertThatIllegalArgumentException()
                .isThrownBy(() -> AllowedHosts.of(List.of(entry)))
                .withMessageContaining("allowed-hosts");
    }

    private static ProxyRequest.Builder request() {
        return ProxyRequest.builder("POST", "/");
    }
}
