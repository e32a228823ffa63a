package io.github.openaiproxy.examples.springboot;

import org.springframework.context.annotation.Configuration;
import org.springframework.web.servlet.config.annotation.ViewControllerRegistry;
import org.springframework.web.servlet.config.annotation.WebMvcConfigurer;

/**
 * The browser chat page (module {@code examples/chat-ui}). Spring Boot serves its files from
 * {@code META-INF/resources/chat/} at {@code /chat/...}; this adds what static resources lack: {@code /chat/}
 * itself shows the page, and a browser that opens {@code /} is sent there. {@code GET /} is the application's;
 * the proxy's {@code POST /} is untouched.
 */
@Configuration(proxyBeanMethods = false)
class ChatPageConfiguration implements WebMvcConfigurer {
    /** Where the page is. */
    static final String PATH = "/chat/";

    @Override
    public void addViewControllers(ViewControllerRegistry registry) {
        registry.addRedirectViewController("/", PATH);
        registry.addRedirectViewController("/chat", PATH);
        registry.addViewController(PATH).setViewName("forward:" + PATH + "index.html");
    }
}
