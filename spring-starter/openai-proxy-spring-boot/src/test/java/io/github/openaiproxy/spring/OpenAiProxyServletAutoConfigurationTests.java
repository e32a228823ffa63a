package io.github.openaiproxy.spring;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.servlet.OpenAiProxyFilter;
import io.github.openaiproxy.servlet.OpenAiProxyServlet;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.test.context.FilteredClassLoader;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.boot.test.context.runner.WebApplicationContextRunner;
import org.springframework.boot.web.servlet.FilterRegistrationBean;
import org.springframework.boot.web.servlet.RegistrationBean;
import org.springframework.boot.web.servlet.ServletRegistrationBean;

class OpenAiProxyServletAutoConfigurationTests {
    private final WebApplicationContextRunner runner = new WebApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(
                    OpenAiProxyAutoConfiguration.class, OpenAiProxyServletAutoConfiguration.class));

    @Test
    void mountsTheServletBelowAPathWithAsyncSupport() {
        runner.withPropertyValues("openai.proxy.path=/ai").run(context -> {
            RegistrationBean registration =
                    context.getBean(OpenAiProxyServletAutoConfiguration.REGISTRATION_BEAN_NAME, RegistrationBean.class);
            assertThat(registration).isInstanceOf(ServletRegistrationBean.class);
            ServletRegistrationBean<?> servlet = (ServletRegistrationBean<?>) registration;
            assertThat(servlet.getServlet()).isInstanceOf(OpenAiProxyServlet.class);
            assertThat(servlet.getUrlMappings()).containsExactly("/ai/*");
            assertThat(servlet.isAsyncSupported()).isTrue();
        });
    }

    @Test
    void mountsAFilterForTheProxysRoutesAtTheRoot() {
        runner.run(context -> {
            RegistrationBean registration =
                    context.getBean(OpenAiProxyServletAutoConfiguration.REGISTRATION_BEAN_NAME, RegistrationBean.class);
            assertThat(registration).isInstanceOf(FilterRegistrationBean.class);
            FilterRegistrationBean<?> filter = (FilterRegistrationBean<?>) registration;
            assertThat(filter.getFilter()).isInstanceOf(OpenAiProxyFilter.class);
            assertThat(filter.getUrlPatterns()).containsExactly("/*");
            assertThat(filter.isAsyncSupported()).isTrue();
        });
    }

    @Test
    void mountsAtThePathOfTheApplicationsConfig() {
        runner.withBean(
                        ProxyConfig.class,
                        () -> ProxyConfig.builder().path("/mine").build())
                .run(context -> assertThat(context.getBean(
                                        OpenAiProxyServletAutoConfiguration.REGISTRATION_BEAN_NAME,
                                        ServletRegistrationBean.class)
                                .getUrlMappings())
                        .containsExactly("/mine/*"));
    }

    @Test
    void backsOffWhenTheApplicationDefinesTheRegistration() {
        ServletRegistrationBean<OpenAiProxyServlet> mine = new ServletRegistrationBean<>();
        runner.withBean(
                        OpenAiProxyServletAutoConfiguration.REGISTRATION_BEAN_NAME,
                        ServletRegistrationBean.class,
                        () -> mine)
                .run(context -> assertThat(context.getBean(OpenAiProxyServletAutoConfiguration.REGISTRATION_BEAN_NAME))
                        .isSameAs(mine));
    }

    @Test
    void mountsNothingForTwoEnginesOfTheApplication() {
        runner.withBean(
                        "first",
                        ProxyEngine.class,
                        () -> ProxyEngine.create(
                                ProxyConfig.builder().path("/a").build()))
                .withBean(
                        "second",
                        ProxyEngine.class,
                        () -> ProxyEngine.create(
                                ProxyConfig.builder().path("/b").build()))
                .run(context -> assertThat(context)
                        .hasNotFailed()
                        .doesNotHaveBean(OpenAiProxyServletAutoConfiguration.REGISTRATION_BEAN_NAME));
    }

    @Test
    void mountsThePrimaryOfTwoEngines() {
        runner.withBean(
                        "first",
                        ProxyEngine.class,
                        () -> ProxyEngine.create(
                                ProxyConfig.builder().path("/a").build()),
                        bean -> bean.setPrimary(true))
                .withBean(
                        "second",
                        ProxyEngine.class,
                        () -> ProxyEngine.create(
                                ProxyConfig.builder().path("/b").build()))
                .run(context -> assertThat(context.getBean(
                                        OpenAiProxyServletAutoConfiguration.REGISTRATION_BEAN_NAME,
                                        ServletRegistrationBean.class)
                                .getUrlMappings())
                        .containsExactly("/a/*"));
    }

    @Test
    void backsOffWithoutTheServletAdapter() {
        runner.withClassLoader(new FilteredClassLoader(OpenAiProxyServlet.class))
                .run(context -> assertThat(context)
                        .hasSingleBean(ProxyEngine.class)
                        .doesNotHaveBean(OpenAiProxyServletAutoConfiguration.REGISTRATION_BEAN_NAME));
    }

    @Test
    void backsOffOutsideAServletWebApplication() {
        new ApplicationContextRunner()
                .withConfiguration(AutoConfigurations.of(
                        OpenAiProxyAutoConfiguration.class, OpenAiProxyServletAutoConfiguration.class))
                .run(context -> assertThat(context)
                        .hasSingleBean(ProxyEngine.class)
                        .doesNotHaveBean(OpenAiProxyServletAutoConfiguration.REGISTRATION_BEAN_NAME));
    }

    @Test
    void canBeDisabled() {
        runner.withPropertyValues("openai.proxy.enabled=false")
                .run(context ->
                        assertThat(context).doesNotHaveBean(ProxyEngine.class).doesNotHaveBean(RegistrationBean.class));
    }
}
