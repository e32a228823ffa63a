package io.github.openaiproxy.core.access;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.openaiproxy.core.http.ProxyRequest;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Which address an anonymous caller is known by, behind trusted proxies or not. */
class ClientAddressTest {
    private static final List<String> PROXIES = List.of("10.0.0.0/8", "2001:db8:ffff::/48");
    private final ClientAddress behindProxies =
            new ClientAddress(PROXIES, AccessConfig.ForwardedHeader.X_FORWARDED_FOR);
    private final ClientAddress behindRfc7239Proxies =
            new ClientAddress(PROXIES, AccessConfig.ForwardedHeader.FORWARDED);

    @Test
    void withoutTrustedProxiesThePeerIsTheCallerWhateverTheHeadersSay() {
        ClientAddress none = new ClientAddress(List.of(), AccessConfig.ForwardedHeader.X_FORWARDED_FOR);
        assertThat(none.of(
                        request("10.0.0.1").header("X-Forwarded-For", "1.2.3.4").build()))
                .isEqualTo("10.0.0.1");
        assertThat(none.of(ProxyRequest.builder("GET", "/").build())).isNull();
    }

    @Test
    void theChainIsWalkedFromTheRightSkippingTrustedHops() {
        assertThat(of("10.0.0.1", "X-Forwarded-For", "1.1.1.1, 2.2.2.2, 10.9.9.9, 10.8.8.8"))
                .isEqualTo("2.2.2.2");
        assertThat(of("10.0.0.1", "X-Forwarded-For", "10.1.1.1, 10.2.2.2"))
                .as("every hop trusted: the leftmost")
                .isEqualTo("10.1.1.1");
        assertThat(of("2001:db8:ffff::1", "X-Forwarded-For", "[2001:db8::5]:443"))
                .isEqualTo("2001:db8:0:0:0:0:0:5");
        assertThat(of("10.0.0.1", "X-Forwarded-For", "192.0.2.1:8080")).isEqualTo("192.0.2.1");
        assertThat(behindRfc7239Proxies.of(request("10.0.0.1")
                        .header("Forwarded", "for=192.0.2.60;proto=http;by=203.0.113.43")
                        .build()))
                .isEqualTo("192.0.2.60");
    }

    @Test
    void onlyTheHeaderTheProxiesWriteIsRead() {
        // nginx appends the client to X-Forwarded-For and passes the client's own Forwarded on untouched.
        ProxyRequest behindNginx = request("10.0.0.1")
                .header("X-Forwarded-For", "203.0.113.5")
                .header("Forwarded", "for=198.51.100.77")
                .build();
        assertThat(behindProxies.of(behindNginx)).isEqualTo("203.0.113.5");
        // A proxy writing Forwarded passes a client's X-Forwarded-For on untouched.
        ProxyRequest behindRfc7239 = request("10.0.0.1")
                .header("Forwarded", "for=203.0.113.5")
                .header("X-Forwarded-For", "198.51.100.77")
                .build();
        assertThat(behindRfc7239Proxies.of(behindRfc7239)).isEqualTo("203.0.113.5");
        // The header the proxies do not write is never read, even alone.
        assertThat(behindProxies.of(request("10.0.0.1")
                        .header("Forwarded", "for=198.51.100.77")
                        .build()))
                .isEqualTo("10.0.0.1");
    }

    @Test
    void headersFromAnUntrustedPeerAndGarbageAreNotBelieved() {
        assertThat(of("192.0.2.9", "X-Forwarded-For", "1.2.3.4")).isEqualTo("192.0.2.9");
        assertThat(of("10.0.0.1", "X-Forwarded-For", "1.2.3.4, evil.example.com"))
                .isEqualTo("10.0.0.1");
        assertThat(of("10.0.0.1", "X-Forwarded-For", "1.2.3.4, 999.1.1.1")).isEqualTo("10.0.0.1");
        assertThat(of("10.0.0.1", "X-Forwarded-For", "")).isEqualTo("10.0.0.1");
        assertThat(behindRfc7239Proxies.of(request("10.0.0.1")
                        .header("Forwarded", "for=_hidden, for=unknown")
                        .build()))
                .isEqualTo("10.0.0.1");
        assertThat(of("10.0.0.1", "X-Forwarded-For", "fe80::1%eth0")).isEqualTo("10.0.0.1");
    }

    @Test
    void rangesAreCheckedBitByBit() {
        ClientAddress.Cidr r = ClientAddress.Cidr.parse("192.168.4.0/22");
        assertThat(r.contains(ClientAddress.literal("192.168.7.255"))).isTrue();
        assertThat(r.contains(ClientAddress.literal("192.168.8.0"))).isFalse();
        assertThat(r.contains(ClientAddress.literal("::1"))).isFalse();
        assertThat(ClientAddress.Cidr.parse("0.0.0.0/0").contains(ClientAddress.literal("8.8.8.8")))
                .isTrue();
        assertThatThrownBy(() -> ClientAddress.Cidr.parse("10.0.0.0/x")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> ClientAddress.Cidr.parse("localhost")).isInstanceOf(IllegalArgumentException.class);
    }

    private String of(String peer, String header, String value) {
        return behindProxies.of(request(peer).header(header, value).build());
    }

    private static ProxyRequest.Builder request(String peer) {
        return ProxyRequest.builder("GET", "/").remoteAddress(peer);
    }
}
