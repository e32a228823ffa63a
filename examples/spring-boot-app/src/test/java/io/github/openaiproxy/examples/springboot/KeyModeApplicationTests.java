package io.github.openaiproxy.examples.springboot;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.session.SessionStore;
import io.github.openaiproxy.demo.DemoUpstream;
import java.net.URI;
import java.util.Properties;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.context.ApplicationContext;
import org.springframework.core.io.ClassPathResource;
import org.springframework.core.io.support.PropertiesLoaderUtils;

/** With a key the application is a real proxy: no fake upstream, OpenAI's API, no cross-origin access. */
@SpringBootTest(
        properties = {
            "openai.proxy.api-key=sk-test-not-used",
            "openai.proxy.base-url=",
            "openai.proxy.cors.allowed-origins=",
            "spring.datasource.url=jdbc:h2:mem:key-mode-tests;DB_CLOSE_DELAY=-1"
        })
class KeyModeApplicationTests {
    @Autowired
    ApplicationContext context;

    @Test
    void usesTheRealApiWithoutDemoMode() {
        assertThat(context.getBeanProvider(DemoUpstream.class).getIfAvailable()).isNull();
        ProxyConfig config = context.getBean(ProxyConfig.class);
        assertThat(config.upstream().baseUrl()).isEqualTo(URI.create("https://api.openai.com"));
        assertThat(config.keys().allowClientKey()).isFalse();
        assertThat(config.cors().allowedOrigins()).isEmpty();
    }

    @Test
    void keepsSessionsInSpringBootsDataSourceByDefaultAnH2File() throws Exception {
        assertThat(context.getBean(SessionStore.class).blocking())
                .as("the JDBC store")
                .isTrue();
        assertThat(context.getBean(ProxyEngine.class).hasRoute("/graphql")).isTrue();
        // The packaged default (these tests use an in-memory database instead, so nothing is written here).
        Properties defaults = PropertiesLoaderUtils.loadProperties(new ClassPathResource("application.properties"));
        assertThat(defaults.getProperty("spring.datasource.url")).startsWith("jdbc:h2:file:./data/");
    }
}
