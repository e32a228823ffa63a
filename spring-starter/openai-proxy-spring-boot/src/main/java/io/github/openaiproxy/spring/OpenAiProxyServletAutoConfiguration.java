package io.github.openaiproxy.spring;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.servlet.OpenAiProxyFilter;
import io.github.openaiproxy.servlet.OpenAiProxyServlet;
import java.util.ArrayList;
import java.util.List;
import org.apache.commons.logging.Log;
import org.apache.commons.logging.LogFactory;
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
                    + " Set openai.proxy.api-key (for example to ${OPENAI_API_KEY}).");
        }
    }
}
