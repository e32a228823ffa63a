package io.github.openaiproxy.spring.web;

import static com.github.tomakehurst.wiremock.client.WireMock.get;
import static com.github.tomakehurst.wiremock.client.WireMock.getRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathMatching;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.WireMockServer;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.models.models.Model;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.context.TestConfiguration;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.boot.tomcat.servlet.TomcatServletWebServerFactory;
import org.springframework.boot.web.server.WebServerFactoryCustomizer;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Import;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * A Spring Boot application that lets an encoded slash through its Tomcat as the README says (no property does it):
 * openai-java's {@code client.models().retrieve("meta-llama/Llama-3.1-8B-Instruct")}, sent as {@code %2F}, reaches
 * the upstream with a raw slash.
 */
@SpringBootTest(
        classes = HostApplication.class,
        webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = {"openai.proxy.api-key=" + Upstream.KEY})
@Import(EncodedSlashModelIdsIntegrationTests.EncodedSlashes.class)
class EncodedSlashModelIdsIntegrationTests {
    static final String LLAMA = "meta-llama/Llama-3.1-8B-Instruct";
    static final WireMockServer upstream = Upstream.start();

    /** The README's customizer. */
    @TestConfiguration
    static class EncodedSlashes {
        @Bean
        WebServerFactoryCustomizer<TomcatServletWebServerFactory> encodedSlashes() {
            return factory -> factory.addConnectorCustomizers(c -> c.setEncodedSolidusHandling("passthrough"));
        }
    }

    @LocalServerPort
    int port;

    @DynamicPropertySource
    static void upstream(DynamicPropertyRegistry registry) {
        registry.add("openai.proxy.base-url", () -> "http://127.0.0.1:" + upstream.port());
    }

    @AfterAll
    static void stopUpstream() {
        upstream.stop();
    }

    @Test
    void openAiJavaRetrievesAModelWhoseIdHasASlash() {
        upstream.stubFor(get(urlPathMatching("/v1/models/.+"))
                .willReturn(
                        okJson("{\"id\":\"" + LLAMA + "\",\"object\":\"model\",\"created\":1,\"owned_by\":\"meta\"}")));
        OpenAIClient client = OpenAIOkHttpClient.builder()
                .baseUrl("http://127.0.0.1:" + port + "/v1")
                .apiKey("sk-client-placeholder")
                .maxRetries(0)
                .build();
        try {
            Model model = client.models().retrieve(LLAMA);

            assertThat(model.id()).isEqualTo(LLAMA);
            upstream.verify(1, getRequestedFor(urlEqualTo("/v1/models/" + LLAMA)));
        } finally {
            client.close();
        }
    }
}
