package io.github.openaiproxy.examples.springboot;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;

/**
 * A Spring Boot application with the proxy mounted by {@code openai-proxy-spring-boot-starter}: the proxy
 * takes {@code POST /}, the image routes, the {@code /v1} routes, the session routes ({@code /sessions...}) and
 * the GraphQL endpoint ({@code /graphql}, module {@code openai-proxy-graphql}); everything else (the
 * {@link ChatPageConfiguration chat page} at {@code /chat/}, the application's own controllers,
 * {@code /actuator}) stays the application's. Chat sessions are kept in Spring Boot's DataSource: an H2 file
 * by default, PostgreSQL when {@code spring.datasource.url} names one. Configuration is in
 * {@code application.properties} ({@code openai.proxy.*}, {@code spring.datasource.*}); with the {@code demo}
 * profile it runs in {@link DemoModeConfiguration demo mode}.
 */
@SpringBootApplication
public class SpringBootProxyApplication {
    public static void main(String[] args) {
        SpringApplication.run(SpringBootProxyApplication.class, args);
    }
}
