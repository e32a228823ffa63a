package io.github.openaiproxy.examples.springboot;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.demo.DemoUpstream;
import java.net.URI;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.context.ApplicationContext;

/** With a key the application is a real proxy: no fake upstream, OpenAI's API, no cross-origin access. */
@SpringBootTest(
        properties = {
            "openai.proxy.api-key=sk-test-not-used",
            "openai.proxy.base-url=",
            "openai.proxy.cors.allowed-origins="
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
}
