package io.github.openaiproxy.examples.springboot;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.web.server.servlet.ConfigurableServletWebServerFactory;

/** An empty {@code HOST} keeps the app on this machine, where Spring alone would bind every interface. */
@SpringBootTest(
        webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = {"HOST=", "spring.datasource.url=jdbc:h2:mem:blank-host-tests;DB_CLOSE_DELAY=-1"})
class BlankHostApplicationTests {
    @Autowired
    ConfigurableServletWebServerFactory factory;

    @Test
    void aBlankHostListensOnLoopbackOnly() {
        assertThat(factory).extracting("address").isEqualTo(InetAddress.getLoopbackAddress());
    }
}
