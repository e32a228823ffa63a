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
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Profile;
import org.springframework.context.event.EventListener;
import org.springframework.core.Ordered;

/**
 * Demo mode, as in the standalone server, only when asked for: the {@code demo} profile
 * ({@code --spring.profiles.active=demo} or {@code SPRING_PROFILES_ACTIVE=demo}). Never because the key is
 * missing: a deployment whose secret failed to load must fail visibly (500 {@code Configuration Error}), not
 * answer canned replies. A local fake OpenAI upstream starts and the proxy points at it, accepts client keys
 * and allows local front ends ({@code http://localhost:*}, {@code http://127.0.0.1:*}) unless origins are
 * configured. Answers are canned: every response carries {@value #HEADER} and the log says so loudly.
 */
@Configuration(proxyBeanMethods = false)
@Profile(DemoModeConfiguration.PROFILE)
class DemoModeConfiguration {
    /** The profile that turns demo mode on. */
    static final String PROFILE = "demo";

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
                + "; no OpenAI call is made. Run without the demo profile, with OPENAI_API_KEY set, for the real API.");
    }
}
