package io.github.openaiproxy.spring.web;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.springframework.boot.test.context.SpringBootTest;

/**
 * {@code server.forward-headers-strategy=none} and no {@code openai.proxy.access.trusted-proxies}: the peer is the
 * client, whatever {@code X-Forwarded-For} says.
 */
@SpringBootTest(
        classes = HostApplication.class,
        webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = "server.forward-headers-strategy=none")
class ForwardHeadersNoneIntegrationTests extends ForwardedClientAddressKit {
    @Test
    void aForwardedAddressIsNotBelieved() throws Exception {
        assertThat(chatFor("203.0.113.7")).isEqualTo(200);
        assertThat(chatFor("203.0.113.8")).isEqualTo(429);
    }
}
