package io.github.openaiproxy.spring.web;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.springframework.boot.test.context.SpringBootTest;

/**
 * {@code server.forward-headers-strategy=native} (Boot's default on the cloud platforms it detects): Tomcat's
 * {@code RemoteIpValve} believes {@code X-Forwarded-For} from a private address, so the proxy sees the address the
 * header names, and a caller from such an address starts afresh under another.
 */
@SpringBootTest(
        classes = HostApplication.class,
        webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = "server.forward-headers-strategy=native")
class ForwardHeadersNativeIntegrationTests extends ForwardedClientAddressKit {
    @Test
    void theForwardedAddressIsTheClientsAndAnyAddressStartsAfresh() throws Exception {
        assertThat(chatFor("203.0.113.7")).isEqualTo(200);
        assertThat(chatFor("203.0.113.7")).isEqualTo(429);
        assertThat(chatFor("203.0.113.8")).isEqualTo(200);
    }
}
