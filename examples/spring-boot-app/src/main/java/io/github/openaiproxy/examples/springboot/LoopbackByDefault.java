package io.github.openaiproxy.examples.springboot;

import java.net.InetAddress;
import org.springframework.boot.web.server.ConfigurableWebServerFactory;
import org.springframework.boot.web.server.WebServerFactoryCustomizer;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.env.Environment;

/**
 * A {@code HOST} that is set but blank (an empty variable in a compose file or unit) means this machine only, as
 * the standalone server reads it: {@code server.address=${HOST:127.0.0.1}} would give Spring an empty address,
 * and Spring binds an empty address to every interface, spending the key for anyone who reaches the port.
 */
@Configuration(proxyBeanMethods = false)
class LoopbackByDefault {
    @Bean
    WebServerFactoryCustomizer<ConfigurableWebServerFactory> blankHostIsLoopback(Environment environment) {
        // Unordered, so it runs after Spring's own customizer has applied server.address.
        return factory -> {
            String host = environment.getProperty("HOST");
            if (host != null && host.isBlank()) {
                factory.setAddress(InetAddress.getLoopbackAddress());
            }
        };
    }
}
