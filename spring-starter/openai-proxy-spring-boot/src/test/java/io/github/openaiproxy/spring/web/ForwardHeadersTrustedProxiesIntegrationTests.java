package io.github.openaiproxy.spring.web;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.springframework.boot.test.context.SpringBootTest;

/**
 * README's alternative: {@code server.forward-headers-strategy=none} and the load balancer in
 * {@code openai.proxy.access.trusted-proxies}: the proxy reads {@code X-Forwarded-For} itself, from that peer only.
 */
@SpringBootTest(
        classes = HostApplication.class,
        webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = {"server.forward-headers-strategy=none", "openai.proxy.access.trusted-proxies=127.0.0.1"})
class ForwardHeadersTrustedProxiesIntegrationTests extends ForwardedClientAddressKit {
    @Test
    void theTrustedPeersForwardedAddressIsTheClients() throws Exception {
        assertThat(chatFor("203.0.113.7")).isEqualTo(200);
        assertThat(chatFor("203.0.113.7")).isEqualTo(429);
        assertThat(chatFor("203.0.113.8")).isEqualTo(200);
    }
}
