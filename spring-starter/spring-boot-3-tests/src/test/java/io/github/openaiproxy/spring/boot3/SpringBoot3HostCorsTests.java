package io.github.openaiproxy.spring.boot3;

import static org.assertj.core.api.Assertions.assertThat;

import jakarta.servlet.Filter;
import jakarta.servlet.http.HttpServletResponse;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.Test;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.context.TestConfiguration;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.boot.web.servlet.FilterRegistrationBean;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Import;

/**
 * On Spring Boot 3.5's Tomcat 10.1, which ignores {@code setHeader(name, null)}: a host filter's CORS headers on the
 * proxy's path give way to the proxy's whole answer, so its {@code Access-Control-Allow-Credentials: true} grants
 * nothing the proxy's configuration does not.
 */
@SpringBootTest(
        classes = SpringBoot3ApplicationTests.App.class,
        webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = {
            "openai.proxy.path=/ai",
            "openai.proxy.api-key=sk-boot3-cors",
            "openai.proxy.cors.allowed-origins=" + SpringBoot3HostCorsTests.APP
        })
@Import(SpringBoot3HostCorsTests.HostCors.class)
class SpringBoot3HostCorsTests {
    static final String APP = "https://app.example.com";

    @LocalServerPort
    int port;

    @TestConfiguration
    static class HostCors {
        @Bean
        FilterRegistrationBean<Filter> hostCors() {
            FilterRegistrationBean<Filter> r = new FilterRegistrationBean<>((req, res, chain) -> {
                HttpServletResponse response = (HttpServletResponse) res;
                response.setHeader("Access-Control-Allow-Origin", APP);
                response.setHeader("Access-Control-Allow-Credentials", "true");
                chain.doFilter(req, res);
            });
            r.addUrlPatterns("/ai/*");
            return r;
        }
    }

    @Test
    void theProxysCorsAnswerLeavesNoCredentialsOfTheHosts() throws Exception {
        HttpResponse<String> r = HttpClient.newHttpClient()
                .send(
                        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/ai/v1/nowhere"))
                                .header("Origin", APP)
                                .build(),
                        HttpResponse.BodyHandlers.ofString());

        assertThat(r.statusCode()).as(r.body()).isEqualTo(404);
        assertThat(r.headers().allValues("Access-Control-Allow-Origin")).containsExactly(APP);
        assertThat(r.headers().allValues("Access-Control-Allow-Credentials")).doesNotContain("true");
    }
}
