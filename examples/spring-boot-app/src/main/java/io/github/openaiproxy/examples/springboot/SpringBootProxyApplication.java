package io.github.openaiproxy.examples.springboot;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;

/**
 * A Spring Boot application with the proxy mounted by {@code openai-proxy-spring-boot-starter}: the proxy
 * takes {@code POST /}, the image routes and the {@code /v1} routes; everything else (static pages, the
 * application's own controllers, {@code /actuator}) stays the application's. Configuration is in
 * {@code application.properties} ({@code openai.proxy.*}); with no API key it runs in
 * {@link DemoModeConfiguration demo mode}.
 */
@SpringBootApplication
public class SpringBootProxyApplication {
    public static void main(String[] args) {
        SpringApplication.run(SpringBootProxyApplication.class, args);
    }
}
