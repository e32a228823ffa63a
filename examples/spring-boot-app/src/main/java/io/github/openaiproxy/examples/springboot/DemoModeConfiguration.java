package io.github.openaiproxy.examples.springboot;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.demo.DemoUpstream;
import io.github.openaiproxy.spring.ProxyConfigCustomizer;
import jakarta.servlet.Filter;
import jakarta.servlet.http.HttpServletResponse;
import java.util.List;
import org.apache.commons.logging.Log;
import org.apache.commons.logging.LogFactory;
import org.springframework.boot.context.event.ApplicationReadyEvent;
import org.springframework.boot.web.servlet.FilterRegistrationBean;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Condition;
import org.springframework.context.annotation.ConditionContext;
import org.springframework.context.annotation.Conditional;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.event.EventListener;
import org.springframework.core.Ordered;
import org.springframework.core.type.AnnotatedTypeMetadata;

/**
 * Demo mode, as in the standalone server: when no API key is configured ({@code openai.proxy.api-key},
 * which {@code application.properties} reads from {@code OPENAI_API_KEY}), a local fake OpenAI upstream
 * starts and the proxy points at it, accepts client keys and allows local front ends
 * ({@code http://localhost:*}, {@code http://127.0.0.1:*}) unless origins are configured. Answers are
 * canned: every response carries {@value #HEADER} and the log says so loudly.
 */
@Configuration(proxyBeanMethods = false)
@Conditional(DemoModeConfiguration.NoApiKey.class)
class DemoModeConfiguration {
    /** The response header set in demo mode. */
    static final String HEADER = "X-OpenAI-Proxy-Demo";

    static final List<String> LOCAL_ORIGINS = List.of("http://localhost:*", "http://127.0.0.1:*");
    private static final Log LOG = LogFactory.getLog(DemoModeConfiguration.class);

    @Bean(destroyMethod = "close")
    DemoUpstream demoUpstream() {
        return DemoUpstream.start();
    }

    /** Points the proxy at the fake upstream; runs after the properties, like any customizer. */
    @Bean
    ProxyConfigCustomizer demoModeCustomizer(DemoUpstream demo) {
        return builder -> {
            ProxyConfig current = builder.build();
            builder.upstream(current.upstream().withBaseUrl(demo.baseUrl()));
            builder.apiKey("demo-key"); // the fake upstream wants some key; it checks none
            builder.allowClientKey(true);
            if (current.cors().allowedOrigins().isEmpty()
                    && current.cors().allowedOriginPatterns().isEmpty()) {
                builder.cors(current.cors().toBuilder().origins(LOCAL_ORIGINS).build());
            }
        };
    }

    @Bean
    FilterRegistrationBean<Filter> demoMarker() {
        Filter marker = (request, response, chain) -> {
            if (response instanceof HttpServletResponse http) {
                http.setHeader(HEADER, "canned answers from the bundled fake upstream");
            }
            chain.doFilter(request, response);
        };
        FilterRegistrationBean<Filter> registration = new FilterRegistrationBean<>(marker);
        registration.setName("demoMarker");
        registration.setOrder(Ordered.HIGHEST_PRECEDENCE);
        registration.setAsyncSupported(true);
        return registration;
    }

    @EventListener(ApplicationReadyEvent.class)
    void announce(ApplicationReadyEvent event) {
        DemoUpstream demo = event.getApplicationContext().getBean(DemoUpstream.class);
        LOG.warn("DEMO MODE: answers are canned by the bundled fake upstream at " + demo.baseUrl()
                + "; no OpenAI call is made. Set OPENAI_API_KEY (or openai.proxy.api-key) for the real API.");
    }

    /** Matches when {@code openai.proxy.api-key} is unset or blank. */
    static final class NoApiKey implements Condition {
        @Override
        public boolean matches(ConditionContext context, AnnotatedTypeMetadata metadata) {
            String key = context.getEnvironment().getProperty("openai.proxy.api-key");
            return key == null || key.isBlank();
        }
    }
}
