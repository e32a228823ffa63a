package io.github.openaiproxy.spring;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.observe.ClientTraceContext;
import io.github.openaiproxy.servlet.OpenAiProxyFilter;
import io.github.openaiproxy.servlet.OpenAiProxyServlet;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import org.apache.commons.logging.Log;
import org.apache.commons.logging.LogFactory;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBooleanProperty;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnSingleCandidate;
import org.springframework.boot.autoconfigure.condition.ConditionalOnWebApplication;
import org.springframework.boot.web.servlet.FilterRegistrationBean;
import org.springframework.boot.web.servlet.RegistrationBean;
import org.springframework.boot.web.servlet.ServletRegistrationBean;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.Ordered;

/**
 * Mounts the proxy in a servlet web application at its configured path ({@code openai.proxy.path}, or the
 * path of a {@link ProxyConfig} bean), with async support (streams need it):
 *
 * <ul>
 *   <li>below a prefix such as {@code /ai}: {@link OpenAiProxyServlet} mapped to {@code /ai/*}. Every path
 *       below the prefix is the proxy's (unknown ones get a JSON 404); the application's other routes are
 *       untouched.
 *   <li>at {@code /}: a filter that takes only the requests the proxy serves (its routes with their methods,
 *       and CORS preflights to them) and passes everything else on to the application. A servlet mapped
 *       to {@code /*} would hide every controller and static resource of the application.
 * </ul>
 *
 * The filter runs after the application's other filters (lowest precedence), so a security filter chain
 * can protect the proxy. Replace the registration with a bean named {@value #REGISTRATION_BEAN_NAME}. An application
 * with several {@link ProxyEngine} beans and none {@code @Primary} mounts them itself: nothing is mounted for it.
 *
 * <p>With {@code tracing.client-context=ignore} (the default) a filter before Boot's HTTP server observation hides a
 * client's trace context headers from the requests to the proxy's routes (bean {@value
 * #CLIENT_TRACE_HEADERS_BEAN_NAME}), so that the server span of such a request is not the client's to sample or name.
 */
@AutoConfiguration(after = OpenAiProxyAutoConfiguration.class)
@ConditionalOnWebApplication(type = ConditionalOnWebApplication.Type.SERVLET)
@ConditionalOnClass({OpenAiProxyServlet.class, ServletRegistrationBean.class})
@ConditionalOnBooleanProperty(name = "openai.proxy.enabled", matchIfMissing = true)
// Single: with two engines there is no telling which one to mount, and injecting one would fail start-up.
@ConditionalOnSingleCandidate(ProxyEngine.class)
public final class OpenAiProxyServletAutoConfiguration {
    /** The name of the registration bean (a servlet or a filter registration). */
    public static final String REGISTRATION_BEAN_NAME = "openAiProxyRegistration";

    /** The name of the registration of the filter that hides a client's trace context from the proxy's routes. */
    public static final String CLIENT_TRACE_HEADERS_BEAN_NAME = "openAiProxyClientTraceHeaders";

    private static final Log LOG = LogFactory.getLog(OpenAiProxyServletAutoConfiguration.class);

    @Bean(name = REGISTRATION_BEAN_NAME)
    @ConditionalOnMissingBean(name = REGISTRATION_BEAN_NAME)
    RegistrationBean openAiProxyRegistration(ProxyEngine engine) {
        ProxyConfig config = engine.config();
        RegistrationBean registration;
        String mount;
        if (config.path().equals("/")) {
            // The filter takes only what the proxy serves (ProxyEngine.serves): the app keeps GET / and its own routes.
            FilterRegistrationBean<OpenAiProxyFilter> filter =
                    new FilterRegistrationBean<>(new OpenAiProxyFilter(engine), new ServletRegistrationBean<?>[0]);
            filter.setName("openAiProxy");
            filter.addUrlPatterns("/*");
            filter.setAsyncSupported(true);
            registration = filter;
            mount = "/ (filter: the proxy's routes only)";
        } else {
            ServletRegistrationBean<OpenAiProxyServlet> servlet =
                    new ServletRegistrationBean<>(new OpenAiProxyServlet(engine), config.path() + "/*");
            servlet.setName("openAiProxy");
            servlet.setAsyncSupported(true);
            registration = servlet;
            mount = config.path() + "/*";
        }
        logStart(config, mount);
        return registration;
    }

    /**
     * Hides the client's trace context on the proxy's routes, before Boot's {@code ServerHttpObservationFilter}
     * ({@code HIGHEST_PRECEDENCE + 1} in Boot 3 and 4) extracts it; disabled with {@code continue}.
     */
    @Bean(name = CLIENT_TRACE_HEADERS_BEAN_NAME)
    @ConditionalOnMissingBean(name = CLIENT_TRACE_HEADERS_BEAN_NAME)
    FilterRegistrationBean<ClientTraceHeadersFilter> openAiProxyClientTraceHeaders(
            ProxyEngine engine, ObjectProvider<PropagationFields> fields) {
        String path = engine.config().path();
        FilterRegistrationBean<ClientTraceHeadersFilter> filter = new FilterRegistrationBean<>(
                new ClientTraceHeadersFilter(
                        engine,
                        () -> fields.orderedStream()
                                .flatMap(f -> f.names().stream())
                                .toList()),
                new ServletRegistrationBean<?>[0]);
        filter.setName(CLIENT_TRACE_HEADERS_BEAN_NAME);
        filter.addUrlPatterns(path.equals("/") ? "/*" : path + "/*");
        filter.setAsyncSupported(true);
        filter.setOrder(Ordered.HIGHEST_PRECEDENCE);
        filter.setEnabled(engine.config().clientTraceContext() == ClientTraceContext.IGNORE);
        return filter;
    }

    /** The header names a tracing set-up reads besides the standard ones (baggage remote fields, other formats). */
    @FunctionalInterface
    interface PropagationFields {
        Collection<String> names();
    }

    /** The fields of Micrometer Tracing's propagators, when the application has them. */
    @Configuration(proxyBeanMethods = false)
    @ConditionalOnClass(name = "io.micrometer.tracing.propagation.Propagator")
    static class MicrometerTracingPropagation {
        @Bean
        PropagationFields openAiProxyPropagationFields(
                ObjectProvider<io.micrometer.tracing.propagation.Propagator> propagators) {
            return () -> propagators
                    .orderedStream()
                    .flatMap(p -> p.fields().stream())
                    .toList();
        }
    }

    private static void logStart(ProxyConfig config, String mount) {
        List<String> origins = new ArrayList<>(config.cors().allowedOrigins());
        origins.addAll(config.cors().allowedOriginPatterns());
        boolean serverKey = config.keys().serverKey().isPresent();
        String keys = (serverKey ? "server key configured" : "NO server key")
                + (config.keys().allowClientKey() ? ", x-openai-key accepted" : ", x-openai-key refused");
        LOG.info("openai-proxy mounted at " + mount + " | upstream "
                + config.upstream().baseUrl() + " | origins "
                + (origins.isEmpty() ? "none (same-origin only)" : origins) + " | " + keys);
        if (!serverKey && !config.keys().allowClientKey()) {
            LOG.warn("openai-proxy has no API key: every call will answer 500 Configuration Error."
                    + " Set openai.proxy.api-key (for example to ${OPENAI_API_KEY:}).");
        }
    }
}
